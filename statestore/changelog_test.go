package statestore

import (
	"fmt"
	"slices"
	"testing"
)

// TestChangelogRebuildsTheState: the changes EachPending hands over, applied
// in order to an empty database, rebuild the same key-value and window state,
// deletions included, and Finish commits the meta with them.
func TestChangelogRebuildsTheState(t *testing.T) {
	src := openMem(t)
	type change struct {
		key, value []byte
		store, p   string
	}
	var log []change
	capture := func() {
		t.Helper()
		if err := src.EachPending(func(c Change) error {
			log = append(log, change{slices.Clone(c.Key), slices.Clone(c.Value), c.Store, c.Partition})
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := src.Commit(nil); err != nil {
			t.Fatal(err)
		}
	}
	kv := src.KeyValue("counts")
	win := src.Windows("windows")
	for i := range 50 {
		kv.Shard(fmt.Sprintf("t/%d", i%3)).Put(fmt.Appendf(nil, "k%02d", i), fmt.Appendf(nil, "v%d", i))
		win.Shard("t/0").Put(fmt.Appendf(nil, "w%d", i%5), int64(i*10), int64(i*10+10), fmt.Appendf(nil, "n%d", i))
	}
	capture()
	for i := range 10 {
		kv.Shard(fmt.Sprintf("t/%d", i%3)).Delete(fmt.Appendf(nil, "k%02d", i))
		win.Shard("t/0").Delete(fmt.Appendf(nil, "w%d", i%5), int64(i*10), int64(i*10+10))
	}
	kv.Shard("t/1").Put([]byte("k49"), []byte("updated"))
	kv.Shard("t/2").Put([]byte("empty"), []byte{})
	capture()
	if len(log) == 0 || log[0].store != "counts" && log[0].store != "windows" {
		t.Fatalf("changes: %+v", log[:min(3, len(log))])
	}

	dst := openMem(t)
	r := dst.NewRestorer()
	for _, c := range log {
		if err := r.Apply(c.key, c.value); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Finish(map[string][]byte{"changelog": []byte("offsets")}); err != nil {
		t.Fatal(err)
	}
	if r.Applied() != int64(len(log)) {
		t.Fatalf("applied %d of %d", r.Applied(), len(log))
	}
	if v, ok, _ := dst.Meta("changelog"); !ok || string(v) != "offsets" {
		t.Fatalf("meta after Finish: %q %v", v, ok)
	}
	want, got := dumpState(src), dumpState(dst)
	if len(want) != 41+40 {
		t.Fatalf("source state has %d entries, want 81: %q", len(want), want)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("restored state differs:\n got %q\nwant %q", got, want)
	}
	// Every committed entry, as changelog keys: the same in both, and as
	// many as the stores hold (the window store indexes each window twice).
	srcEntries, dstEntries := committedEntries(t, src), committedEntries(t, dst)
	if len(srcEntries) != 41+2*40 || !slices.Equal(srcEntries, dstEntries) {
		t.Fatalf("EachCommitted: source %d entries, restored %d (want 121 in both, equal)", len(srcEntries), len(dstEntries))
	}
}

func committedEntries(t *testing.T, db *DB) []string {
	t.Helper()
	var out []string
	if err := db.EachCommitted(func(k, v []byte) error {
		out = append(out, fmt.Sprintf("%q=%q", k, v))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func dumpState(db *DB) []string {
	var out []string
	for _, p := range []string{"t/0", "t/1", "t/2"} {
		db.KeyValue("counts").Shard(p).Range(nil, nil, func(k, v []byte) bool {
			out = append(out, fmt.Sprintf("%s %s=%s", p, k, v))
			return true
		})
	}
	db.Windows("windows").Shard("t/0").EndingBefore(1<<40, func(k []byte, s, e int64, v []byte) bool {
		out = append(out, fmt.Sprintf("w %s[%d,%d)=%s", k, s, e, v))
		return true
	})
	return out
}

func TestRestorerRejectsForeignKeys(t *testing.T) {
	db := openMem(t)
	r := db.NewRestorer()
	defer r.Cancel()
	if err := r.Apply([]byte("not a state key"), []byte("v")); err == nil {
		t.Fatal("a key that is not a state key must be refused")
	}
}

func TestDropStoreDropsOnlyThatStore(t *testing.T) {
	db := openMem(t)
	for _, store := range []string{"a", "b"} {
		for _, p := range []string{"t/0", "t/1"} {
			db.KeyValue(store).Shard(p).Put([]byte("k"), []byte(store))
		}
	}
	db.Windows("a").Shard("t/0").Put([]byte("w"), 0, 10, []byte("a"))
	if err := db.Commit(nil); err != nil {
		t.Fatal(err)
	}
	db.KeyValue("a").Shard("t/2").Put([]byte("k"), []byte("uncommitted"))
	if err := db.DropStore("a"); err != nil {
		t.Fatal(err)
	}
	if err := db.Commit(nil); err != nil {
		t.Fatal(err)
	}
	var left []string
	if err := db.EachCommitted(func(k, v []byte) error {
		left = append(left, string(v))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(left, []string{"b", "b"}) {
		t.Fatalf("after DropStore(a) the state holds %q, want only b's two entries", left)
	}
	for _, p := range []string{"t/0", "t/1", "t/2"} {
		if _, ok, _ := db.KeyValue("a").Shard(p).Get([]byte("k")); ok {
			t.Fatalf("store a still answers in %s", p)
		}
	}
}
