package join

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestMemTableAgreesWithAMap: random sets and deletes, with a hash that
// puts many keys in one chain, and enough changes to compact the arena
// many times; after each step every key reads as a map says.
func TestMemTableAgreesWithAMap(t *testing.T) {
	for _, c := range []struct {
		name string
		hash func([]byte) uint64
	}{
		{"real hash", nil},
		{"three chains", func(k []byte) uint64 { return uint64(len(k) % 3) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newMemTable()
			if c.hash != nil {
				m.hash = c.hash
			}
			want := map[string]string{}
			r := rand.New(rand.NewPCG(1, 2))
			compactions, arenaCap := 0, 0
			for i := range 60_000 {
				key := fmt.Sprintf("k%d", r.IntN(300))
				if r.IntN(4) == 0 {
					m.del([]byte(key))
					delete(want, key)
				} else {
					v := fmt.Sprintf("v%d-%0*d", i, r.IntN(60), 0)
					m.set([]byte(key), []byte(v))
					want[key] = v
				}
				if cap(m.arena) < arenaCap {
					compactions++
				}
				arenaCap = cap(m.arena)
				if i%997 == 0 || i > 59_000 {
					for k := range 300 {
						key := fmt.Sprintf("k%d", k)
						got, found := m.get([]byte(key))
						w, ok := want[key]
						if found != ok || string(got) != w {
							t.Fatalf("step %d: %s reads %q (found %v), want %q (found %v)", i, key, got, found, w, ok)
						}
					}
				}
			}
			if compactions == 0 {
				t.Fatal("the arena was never compacted")
			}
			if m.live > len(m.arena) || len(m.arena) > 2*m.live+1<<20 {
				t.Fatalf("%d live bytes in an arena of %d", m.live, len(m.arena))
			}
		})
	}
}
