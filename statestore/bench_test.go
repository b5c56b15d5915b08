package statestore

import (
	"encoding/binary"
	"fmt"
	"math/rand"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

const benchKeys = 1_000_000

var bench struct {
	once      sync.Once
	dir       string
	db        *DB
	committed *KeyValueShard // benchKeys keys in Badger, nothing cached
	cached    *KeyValueShard // benchKeys keys in the write cache
	keys      [][]byte
	err       error
}

// TestMain closes the benchmarks' database once every test and benchmark
// ran, and then fails the run when one of them left a goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(closingBench{m})
}

// closingBench runs the tests and benchmarks, then closes the database the
// benchmarks share, so that its goroutines are gone before goleak looks.
type closingBench struct{ m *testing.M }

func (c closingBench) Run() int {
	code := c.m.Run()
	if bench.db != nil {
		bench.db.Close()
		os.RemoveAll(bench.dir)
	}
	return code
}

func benchKey(i int) []byte {
	return fmt.Appendf(nil, "user-%08d", i)
}

func setupBench(b *testing.B) {
	bench.once.Do(func() {
		bench.dir, bench.err = os.MkdirTemp("", "statestore-bench")
		if bench.err != nil {
			return
		}
		bench.db, bench.err = Open(bench.dir, Options{CacheBytes: 4 << 30, Logger: quietLogger})
		if bench.err != nil {
			return
		}
		bench.committed = bench.db.KeyValue("bench").Shard("committed")
		bench.cached = bench.db.KeyValue("bench").Shard("cached")
		bench.keys = make([][]byte, benchKeys)
		var v [8]byte
		for i := range bench.keys {
			bench.keys[i] = benchKey(i)
			binary.BigEndian.PutUint64(v[:], uint64(i))
			bench.committed.Put(bench.keys[i], v[:])
		}
		start := time.Now()
		if bench.err = bench.db.Commit(nil); bench.err != nil {
			return
		}
		fmt.Fprintf(os.Stderr, "commit of %d keys: %v\n", benchKeys, time.Since(start))
		bench.db.dropCaches()
		for i, k := range bench.keys {
			binary.BigEndian.PutUint64(v[:], uint64(i))
			bench.cached.Put(k, v[:])
		}
	})
	if bench.err != nil {
		b.Fatal(bench.err)
	}
}

// randomOrder is a fixed random permutation of the key indexes.
var randomOrder = sync.OnceValue(func() []int32 {
	p := rand.New(rand.NewSource(1)).Perm(benchKeys)
	out := make([]int32, len(p))
	for i, x := range p {
		out[i] = int32(x)
	}
	return out
})

func BenchmarkShard1M(b *testing.B) {
	setupBench(b)
	order := randomOrder()
	var v [8]byte
	b.Run("Get/cache", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, ok, err := bench.cached.Get(bench.keys[order[i%benchKeys]]); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("Get/committed", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, ok, err := bench.committed.Get(bench.keys[order[i%benchKeys]]); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("Get/missing", func(b *testing.B) {
		b.ReportAllocs()
		key := []byte("user-x0000000")
		for i := 0; b.Loop(); i++ {
			key[len(key)-1] = byte(i)
			if _, ok, err := bench.committed.Get(key); ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("Put/cache", func(b *testing.B) { // overwrite a cached key
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			binary.BigEndian.PutUint64(v[:], uint64(i))
			bench.cached.Put(bench.keys[order[i%benchKeys]], v[:])
		}
	})
	b.Run("Put/new", func(b *testing.B) { // a key not cached yet: insert
		b.ReportAllocs()
		s := bench.db.KeyValue("bench").Shard(fmt.Sprint("new", b.N))
		for i := 0; b.Loop(); i++ {
			binary.BigEndian.PutUint64(v[:], uint64(i))
			s.Put(bench.keys[order[i%benchKeys]], v[:])
		}
	})
	b.Run("GetPut/committed", func(b *testing.B) { // read-modify-write of a key only in Badger
		b.ReportAllocs()
		s := bench.db.KeyValue("bench").Shard("committed")
		for i := 0; b.Loop(); i++ {
			k := bench.keys[order[i%benchKeys]]
			old, _, err := s.Get(k)
			if err != nil {
				b.Fatal(err)
			}
			s.Put(k, old)
		}
		b.StopTimer()
		s.s.clear() // back to nothing cached
	})
	b.Run("Range/cache", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			n := 0
			bench.cached.Range(bench.keys[500_000], nil, func(k, v []byte) bool { n++; return n < 1000 })
		}
	})
	b.Run("Range/committed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			n := 0
			bench.committed.Range(bench.keys[500_000], nil, func(k, v []byte) bool { n++; return n < 1000 })
		}
	})
}

// BenchmarkCommit100k commits 100k changed keys per op.
func BenchmarkCommit100k(b *testing.B) {
	db := openDisk(b, b.TempDir(), Options{CacheBytes: 1 << 30})
	s := db.KeyValue("bench").Shard("p")
	var v [8]byte
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		for k := range 100_000 {
			binary.BigEndian.PutUint64(v[:], uint64(i))
			s.Put(benchKey(k), v[:])
		}
		if err := db.Commit(nil); err != nil {
			b.Fatal(err)
		}
	}
}
