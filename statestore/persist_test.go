package statestore

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// reopen closes db without committing (what a crash leaves: Close does not
// commit) and opens dir again.
func reopen(t *testing.T, db *DB, dir string, opts Options) *DB {
	t.Helper()
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return openDisk(t, dir, opts)
}

func TestReopenKeepsCommitted(t *testing.T) {
	dir := t.TempDir()
	db := openDisk(t, dir, Options{})
	db.KeyValue("kv").Shard("p0").Put([]byte("a"), []byte("1"))
	db.Windows("w").Shard("p0").Put([]byte("k"), -5, 5, []byte("win"))
	commit(t, db, map[string][]byte{"pos": []byte("42")})

	db = reopen(t, db, dir, Options{})
	wantGet(t, db.KeyValue("kv").Shard("p0"), "a", "1", true)
	if got := endingBefore(t, db.Windows("w").Shard("p0"), 10); len(got) != 1 || got[0] != (win{"k", -5, 5, "win"}) {
		t.Errorf("windows after reopen: %v", got)
	}
	if v, ok, err := db.Meta("pos"); string(v) != "42" || !ok || err != nil {
		t.Errorf("Meta after reopen = %q %v %v", v, ok, err)
	}
}

func TestReopenWithoutCommitLosesChanges(t *testing.T) {
	dir := t.TempDir()
	db := openDisk(t, dir, Options{})
	s := db.KeyValue("kv").Shard("p0")
	s.Put([]byte("a"), []byte("1"))
	s.Put([]byte("b"), []byte("1"))
	commit(t, db, map[string][]byte{"pos": []byte("1")})
	s.Put([]byte("a"), []byte("2"))
	s.Delete([]byte("b"))
	s.Put([]byte("c"), []byte("2"))
	db.Windows("w").Shard("p0").Put([]byte("k"), 0, 1, []byte("x"))

	db = reopen(t, db, dir, Options{})
	s = db.KeyValue("kv").Shard("p0")
	if got := rangeKV(t, s, nil, nil, 0); got != "a=1 b=1" {
		t.Errorf("after a crash: %q, want the last commit", got)
	}
	if got := endingBefore(t, db.Windows("w").Shard("p0"), 10); len(got) != 0 {
		t.Errorf("uncommitted windows survived: %v", got)
	}
	if v, _, _ := db.Meta("pos"); string(v) != "1" {
		t.Errorf("Meta = %q", v)
	}
}

// TestTornCommitWiped stops a split commit after some of its transactions,
// as a crash would, and checks that Open wipes the state and warns.
func TestTornCommitWiped(t *testing.T) {
	dir := t.TempDir()
	db := openDisk(t, dir, Options{})
	s := db.KeyValue("kv").Shard("p0")
	s.Put([]byte("old"), []byte("1"))
	commit(t, db, map[string][]byte{"pos": []byte("1")})

	db.opts.maxTxnBytes = 200
	db.opts.crashAfterTxns = 2
	for i := range 50 {
		s.Put(fmt.Appendf(nil, "new%02d", i), []byte("2"))
	}
	if err := db.Commit(map[string][]byte{"pos": []byte("2")}); !errors.Is(err, errSimulatedCrash) {
		t.Fatalf("Commit = %v, want the simulated crash", err)
	}
	// Torn on disk: the marker and part of the data are there.
	var marker bool
	var news int
	db.bdb.View(func(txn *badger.Txn) error {
		_, err := txn.Get(markerKey)
		marker = err == nil
		return nil
	})
	db.scanShard(shardID{kindKV, "kv", "p0"}, func(k, v []byte) error {
		if bytes.HasPrefix(k, []byte("new")) {
			news++
		}
		return nil
	})
	if !marker || news == 0 || news == 50 {
		t.Fatalf("not a torn commit: marker %v, %d of 50 new keys written", marker, news)
	}

	var logs strings.Builder
	db = reopen(t, db, dir, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "interrupted") {
		t.Errorf("no warning logged: %q", logs.String())
	}
	s = db.KeyValue("kv").Shard("p0")
	if got := rangeKV(t, s, nil, nil, 0); got != "" {
		t.Errorf("state after a torn commit: %q, want empty", got)
	}
	if _, ok, _ := db.Meta("pos"); ok {
		t.Error("metadata survived a torn commit")
	}
	// And it works again, with the marker gone.
	s.Put([]byte("x"), []byte("1"))
	commit(t, db, map[string][]byte{"pos": []byte("3")})
	db = reopen(t, db, dir, Options{})
	wantGet(t, db.KeyValue("kv").Shard("p0"), "x", "1", true)
}

// TestSplitCommitCompletes: a commit split over many transactions is whole
// after reopening, and leaves no marker.
func TestSplitCommitCompletes(t *testing.T) {
	dir := t.TempDir()
	db := openDisk(t, dir, Options{})
	db.opts.maxTxnBytes = 500
	s := db.KeyValue("kv").Shard("p0")
	for i := range 300 {
		s.Put(fmt.Appendf(nil, "k%03d", i), fmt.Appendf(nil, "v%d", i))
	}
	commit(t, db, map[string][]byte{"pos": []byte("9")})
	db = reopen(t, db, dir, Options{})
	s = db.KeyValue("kv").Shard("p0")
	n := 0
	s.Range(nil, nil, func(k, v []byte) bool { n++; return true })
	if n != 300 {
		t.Errorf("%d keys after a split commit, want 300", n)
	}
	if v, _, _ := db.Meta("pos"); string(v) != "9" {
		t.Errorf("Meta = %q", v)
	}
}

// TestBigCommit goes past Badger's own transaction limits.
func TestBigCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	dir := t.TempDir()
	db := openDisk(t, dir, Options{})
	n := int(db.bdb.MaxBatchCount()) + 1000
	s := db.KeyValue("kv").Shard("p0")
	for i := range n {
		s.Put(fmt.Appendf(nil, "k%08d", i), []byte("v"))
	}
	commit(t, db, map[string][]byte{"pos": []byte("big")})
	db = reopen(t, db, dir, Options{})
	s = db.KeyValue("kv").Shard("p0")
	got := 0
	if err := s.Range(nil, nil, func(k, v []byte) bool { got++; return true }); err != nil {
		t.Fatal(err)
	}
	if got != n {
		t.Errorf("%d keys after a big commit, want %d", got, n)
	}
	if v, _, _ := db.Meta("pos"); string(v) != "big" {
		t.Errorf("Meta = %q", v)
	}
}

func TestFormatVersionChecked(t *testing.T) {
	dir := t.TempDir()
	db := openDisk(t, dir, Options{})
	if err := db.bdb.Update(func(txn *badger.Txn) error { return txn.Set(formatKey, []byte("99")) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if db, err := Open(dir, Options{Logger: quietLogger}); err == nil {
		db.Close()
		t.Fatal("Open accepted an unknown format")
	} else if !strings.Contains(err.Error(), `"99"`) {
		t.Errorf("error = %v", err)
	}
}

func TestCloseTwice(t *testing.T) {
	db := openDisk(t, t.TempDir(), Options{})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Commit(nil); err == nil {
		t.Error("Commit after Close succeeded")
	}
}

func TestBadgerLoggerOnlyAtDebug(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		var logs strings.Builder
		db := openDisk(t, t.TempDir(), Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: level}))})
		db.Close()
		badgerLines := strings.Count(logs.String(), "component=badger")
		if level == slog.LevelInfo && badgerLines != 0 {
			t.Errorf("Badger logs at info level:\n%s", logs.String())
		}
		if level == slog.LevelDebug && badgerLines == 0 {
			t.Error("no Badger logs at debug level")
		}
	}
}

func TestEncoding(t *testing.T) {
	// Times order numerically as bytes, negatives included.
	times := []int64{-1 << 63, -1000, -1, 0, 1, 1000, 1<<63 - 1}
	for i := 1; i < len(times); i++ {
		a, b := appendTime(nil, times[i-1]), appendTime(nil, times[i])
		if bytes.Compare(a, b) >= 0 {
			t.Errorf("%d does not sort before %d", times[i-1], times[i])
		}
		if readTime(b) != times[i] {
			t.Errorf("readTime(appendTime(%d)) = %d", times[i], readTime(b))
		}
	}
	// Length prefixes keep names apart.
	if bytes.Equal(shardPrefix(kindKV, "a", "bc"), shardPrefix(kindKV, "ab", "c")) {
		t.Error("shard prefixes collide")
	}
	id, n, err := parseShardPrefix(append(shardPrefix(kindWindow, "st", "part"), "rest"...))
	if err != nil || id != (shardID{kindWindow, "st", "part"}) || n != len(shardPrefix(kindWindow, "st", "part")) {
		t.Errorf("parseShardPrefix = %v %d %v", id, n, err)
	}
	k, s, e, err := parseWindowEndSuffix(windowEndSuffix(nil, []byte("key"), -3, 4))
	if err != nil || string(k) != "key" || s != -3 || e != 4 {
		t.Errorf("window end suffix round trip: %q %d %d %v", k, s, e, err)
	}
	if got := prefixEnd([]byte{1, 0xff, 0xff}); !bytes.Equal(got, []byte{2}) {
		t.Errorf("prefixEnd = %v", got)
	}
	if got := prefixEnd([]byte{0xff}); got != nil {
		t.Errorf("prefixEnd(ff) = %v", got)
	}
}
