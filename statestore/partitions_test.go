package statestore

import (
	"slices"
	"testing"
)

func TestPartitionsListCommittedAndTouchedShards(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.KeyValue("counts").Shard("p1").Put([]byte("a"), []byte("1"))
	db.Windows("counts").Shard("w").Put([]byte("a"), 0, 10, []byte("1"))
	if err := db.Commit(nil); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.KeyValue("counts").Shard("p0").Put([]byte("b"), []byte("1"))
	db.KeyValue("other").Shard("p9").Put([]byte("c"), []byte("1"))
	got, err := db.KeyValue("counts").Partitions()
	if err != nil || !slices.Equal(got, []string{"p0", "p1"}) {
		t.Fatalf("key-value partitions %v, %v", got, err)
	}
	got, err = db.Windows("counts").Partitions()
	if err != nil || !slices.Equal(got, []string{"w"}) {
		t.Fatalf("window partitions %v, %v", got, err)
	}
}

func TestEndingBeforeAfterResumesPastDeletedWindows(t *testing.T) {
	db, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w := db.Windows("w").Shard("p")
	for _, k := range []string{"a", "b", "c", "d"} {
		w.Put([]byte(k), 0, 10, []byte(k))
	}
	w.Put([]byte("a"), 20, 30, []byte("late"))
	var pos *WindowPos
	var got []string
	for part := 0; part < 3; part++ {
		n := 0
		err := w.EndingBeforeAfter(pos, 100, func(key []byte, start, end int64, value []byte) bool {
			got = append(got, string(value))
			pos = &WindowPos{Key: append([]byte(nil), key...), Start: start, End: end}
			w.Delete(key, start, end)
			n++
			return n < 2
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(got, []string{"a", "b", "c", "d", "late"}) {
		t.Fatalf("scanned in parts: %v", got)
	}
}

func TestEndingBetween(t *testing.T) {
	db, err := Open(t.TempDir(), Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w := db.Windows("w").Shard("p")
	for end := int64(-20); end <= 20; end += 10 {
		w.Put([]byte("k"), end-10, end, []byte{byte(end + 100)})
	}
	var ends []int64
	if err := w.EndingBetween(-10, 20, func(_ []byte, _, end int64, _ []byte) bool {
		ends = append(ends, end)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ends, []int64{-10, 0, 10}) {
		t.Fatalf("ends %v, want [-10 0 10]", ends)
	}
}
