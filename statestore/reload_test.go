package statestore

import (
	"fmt"
	"testing"
)

// TestReloadReplacesAShard: a reload drops what the shard held, committed
// or only cached, writes what fill puts (a later delete of a key put in
// the same reload wins), leaves other shards and their pending changes
// alone, and what it wrote survives a reopen without any commit.
func TestReloadReplacesAShard(t *testing.T) {
	dir := t.TempDir()
	db := openDisk(t, dir, Options{})
	table := db.KeyValue("table")
	other := db.KeyValue("other").Shard("p0")
	g := table.Shard("global")
	g.Put([]byte("stale"), []byte("committed"))
	other.Put([]byte("o"), []byte("1"))
	commit(t, db, nil)
	g.Put([]byte("cached"), []byte("pending"))
	other.Put([]byte("o"), []byte("2"))

	err := table.Reload("global", func(put func(k, v []byte) error) error {
		for i := range 2000 {
			if err := put(fmt.Appendf(nil, "k%04d", i), fmt.Appendf(nil, "v%d", i)); err != nil {
				return err
			}
		}
		if err := put([]byte("k0001"), nil); err != nil {
			return err
		}
		return put([]byte("k0002"), []byte("updated"))
	})
	if err != nil {
		t.Fatalf("Reload: %v", err)
	}
	check := func(db *DB, when string) {
		t.Helper()
		g := db.KeyValue("table").Shard("global")
		wantGet(t, g, "stale", "", false)
		wantGet(t, g, "cached", "", false)
		wantGet(t, g, "k0000", "v0", true)
		wantGet(t, g, "k0001", "", false)
		wantGet(t, g, "k0002", "updated", true)
		wantGet(t, g, "k1999", "v1999", true)
		n := 0
		if err := g.Range(nil, nil, func(k, v []byte) bool { n++; return true }); err != nil {
			t.Fatal(err)
		}
		if n != 1999 {
			t.Errorf("%s: %d keys, want 1999", when, n)
		}
	}
	check(db, "after the reload")
	wantGet(t, other, "o", "2", true) // still pending, not lost
	commit(t, db, nil)

	// Written to disk without a commit of its own.
	db = reopen(t, db, dir, Options{})
	check(db, "after a reopen")
	wantGet(t, db.KeyValue("other").Shard("p0"), "o", "2", true)
}

// TestReloadFailingLeavesNothingCached: an error from fill is returned, and
// the shard holds none of the old content.
func TestReloadFailingLeavesNothingCached(t *testing.T) {
	db := openMem(t)
	s := db.KeyValue("table")
	s.Shard("global").Put([]byte("a"), []byte("1"))
	commit(t, db, nil)
	want := fmt.Errorf("source failed")
	err := s.Reload("global", func(put func(k, v []byte) error) error { return want })
	if err != want {
		t.Fatalf("Reload = %v, want %v", err, want)
	}
	wantGet(t, s.Shard("global"), "a", "", false)
}
