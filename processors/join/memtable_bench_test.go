package join

import (
	"strconv"
	"testing"
)

// BenchmarkMemTableLookup: lookups of random keys in a 1M-row table, one
// by one and a batch's heads first (as Join.lookupInMemory does).
func BenchmarkMemTableLookup(b *testing.B) {
	const rows = 1_000_000
	t := newMemTable()
	keys := make([][]byte, rows)
	for n := range rows {
		keys[n] = []byte(strconv.Itoa(n))
		t.set(keys[n], []byte(`j{"tier":3}`))
	}
	// A new batch each time, so that the table is read from memory, not
	// from the cache as a batch read before would be.
	order := make([][]byte, rows)
	for i := range order {
		order[i] = keys[(i*7919)%rows]
	}
	next := 0
	nextBatch := func() [][]byte {
		if next+1024 > rows {
			next = 0
		}
		next += 1024
		return order[next-1024 : next]
	}
	b.Run("one by one", func(b *testing.B) {
		for b.Loop() {
			for _, k := range nextBatch() {
				if _, ok := t.get(k); !ok {
					b.Fatal("missing")
				}
			}
		}
	})
	b.Run("heads first", func(b *testing.B) {
		heads := make([]uint64, 1024)
		for b.Loop() {
			batch := nextBatch()
			for i, k := range batch {
				heads[i] = t.head(k)
			}
			for i, k := range batch {
				if _, ok := t.find(heads[i], k); !ok {
					b.Fatal("missing")
				}
			}
		}
	})
}
