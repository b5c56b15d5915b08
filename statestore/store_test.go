package statestore

import (
	"bytes"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
)

// quietLogger drops everything; tests that check logging use their own.
var quietLogger = slog.New(slog.DiscardHandler)

func openDisk(t testing.TB, dir string, opts Options) *DB {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger
	}
	db, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func openMem(t testing.TB) *DB {
	t.Helper()
	db, err := Open("", Options{InMemory: true, Logger: quietLogger})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestStoreDisk(t *testing.T) {
	testStore(t, func(t *testing.T) *DB { return openDisk(t, t.TempDir(), Options{}) })
}

func TestStoreInMemory(t *testing.T) {
	testStore(t, func(t *testing.T) *DB { return openMem(t) })
}

// testStore is the conformance suite every store configuration passes.
func testStore(t *testing.T, open func(t *testing.T) *DB) {
	t.Run("KeyValueVisibility", func(t *testing.T) { testKVVisibility(t, open(t)) })
	t.Run("RangeMerge", func(t *testing.T) { testRangeMerge(t, open(t)) })
	t.Run("ShardIsolation", func(t *testing.T) { testIsolation(t, open(t)) })
	t.Run("Windows", func(t *testing.T) { testWindows(t, open(t)) })
	t.Run("Meta", func(t *testing.T) { testMeta(t, open(t)) })
	t.Run("Wipe", func(t *testing.T) { testWipe(t, open(t)) })
	t.Run("CacheFull", func(t *testing.T) { testCacheFull(t, open(t)) })
	t.Run("ReadCache", func(t *testing.T) { testReadCache(t, open(t)) })
	t.Run("SplitCommit", func(t *testing.T) {
		db := open(t)
		db.opts.maxTxnBytes = 300
		testKVVisibility(t, db)
		testWindows(t, db)
	})
	t.Run("Shards", func(t *testing.T) { testShardOps(t, open(t)) })
	t.Run("ConcurrentShards", func(t *testing.T) { testConcurrentShards(t, open(t)) })
	t.Run("Random", func(t *testing.T) {
		for seed := int64(1); seed <= 3; seed++ {
			t.Run(fmt.Sprint(seed), func(t *testing.T) { testRandom(t, open(t), seed, 3000, nil) })
		}
	})
}

func mustGet(t *testing.T, s *KeyValueShard, key string) (string, bool) {
	t.Helper()
	v, ok, err := s.Get([]byte(key))
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return string(v), ok
}

func wantGet(t *testing.T, s *KeyValueShard, key, want string, wantOK bool) {
	t.Helper()
	got, ok := mustGet(t, s, key)
	if ok != wantOK || got != want {
		t.Errorf("Get(%q) = %q, %v; want %q, %v", key, got, ok, want, wantOK)
	}
}

func commit(t testing.TB, db *DB, meta map[string][]byte) {
	t.Helper()
	if err := db.Commit(meta); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

func rangeKV(t *testing.T, s *KeyValueShard, from, to []byte, limit int) string {
	t.Helper()
	var out []string
	err := s.Range(from, to, func(k, v []byte) bool {
		out = append(out, string(k)+"="+string(v))
		return limit <= 0 || len(out) < limit
	})
	if err != nil {
		t.Fatalf("Range: %v", err)
	}
	return strings.Join(out, " ")
}

func testKVVisibility(t *testing.T, db *DB) {
	s := db.KeyValue("kv").Shard("p0")
	wantGet(t, s, "a", "", false)
	s.Put([]byte("a"), []byte("1"))
	s.Put([]byte("b"), []byte("2"))
	s.Put([]byte("empty"), nil)
	wantGet(t, s, "a", "1", true)
	wantGet(t, s, "empty", "", true)
	s.Put([]byte("a"), []byte("11")) // grows the value
	s.Put([]byte("b"), []byte("3"))  // in place
	s.Delete([]byte("never"))
	wantGet(t, s, "a", "11", true)
	wantGet(t, s, "b", "3", true)
	commit(t, db, nil)
	for _, drop := range []bool{false, true} {
		if drop {
			db.dropCaches() // read Badger, not the read cache
		}
		wantGet(t, s, "a", "11", true)
		wantGet(t, s, "b", "3", true)
		wantGet(t, s, "empty", "", true)
		wantGet(t, s, "never", "", false)
	}
	// Put copies: changing the caller's slices changes nothing.
	k, v := []byte("c"), []byte("x")
	s.Put(k, v)
	k[0], v[0] = 'z', 'y'
	wantGet(t, s, "c", "x", true)
	wantGet(t, s, "z", "", false)

	// A nil key is the empty key.
	s.Delete(nil)
	if got := rangeKV(t, s, nil, nil, 0); got != "a=11 b=3 c=x empty=" {
		t.Errorf("Range after Delete(nil) = %q", got)
	}
	s.Put(nil, []byte("nil"))
	wantGet(t, s, "", "nil", true)
	s.Delete([]byte{})
	wantGet(t, s, "", "", false)

	s.Delete([]byte("a"))
	wantGet(t, s, "a", "", false) // the tombstone hides the committed key
	s.Put([]byte("b"), []byte("4"))
	wantGet(t, s, "b", "4", true)
	commit(t, db, nil)
	db.dropCaches()
	wantGet(t, s, "a", "", false)
	wantGet(t, s, "b", "4", true)
	wantGet(t, s, "c", "x", true)
	s.Put([]byte("a"), []byte("back"))
	wantGet(t, s, "a", "back", true)
	commit(t, db, nil)
	db.dropCaches()
	wantGet(t, s, "a", "back", true)
}

func testRangeMerge(t *testing.T, db *DB) {
	s := db.KeyValue("kv").Shard("p0")
	if got := rangeKV(t, s, nil, nil, 0); got != "" {
		t.Fatalf("empty Range = %q", got)
	}
	for _, k := range []string{"a", "c", "e", "g", "i"} {
		s.Put([]byte(k), []byte(k+"0"))
	}
	commit(t, db, nil)
	db.dropCaches()
	s.Put([]byte("b"), []byte("b1"))
	s.Delete([]byte("c"))
	s.Put([]byte("e"), []byte("e1"))
	s.Put([]byte("h"), []byte("h1"))
	s.Delete([]byte("i"))
	s.Delete([]byte("j")) // a tombstone of nothing
	s.Put([]byte("\xff\xff"), []byte("max"))
	s.Put([]byte(""), []byte("emptykey"))

	for _, tc := range []struct {
		from, to []byte
		limit    int
		want     string
	}{
		{nil, nil, 0, "=emptykey a=a0 b=b1 e=e1 g=g0 h=h1 \xff\xff=max"},
		{[]byte("a"), nil, 0, "a=a0 b=b1 e=e1 g=g0 h=h1 \xff\xff=max"},
		{[]byte("b"), []byte("g"), 0, "b=b1 e=e1"},
		{[]byte("bb"), []byte("gg"), 0, "e=e1 g=g0"},
		{[]byte("c"), []byte("e"), 0, ""},
		{[]byte("c"), []byte("e\x00"), 0, "e=e1"},
		{[]byte("g"), []byte("g"), 0, ""},
		{[]byte("h"), []byte("a"), 0, ""},
		{[]byte("i"), []byte("z"), 0, ""},
		{nil, nil, 3, "=emptykey a=a0 b=b1"},
		{[]byte("f"), nil, 1, "g=g0"},
	} {
		if got := rangeKV(t, s, tc.from, tc.to, tc.limit); got != tc.want {
			t.Errorf("Range(%q, %q) = %q, want %q", tc.from, tc.to, got, tc.want)
		}
	}
	const all = "=emptykey a=a0 b=b1 e=e1 g=g0 h=h1 \xff\xff=max"
	commit(t, db, nil)
	if got := rangeKV(t, s, nil, nil, 0); got != all {
		t.Errorf("after commit, from the read cache: %q", got)
	}
	db.dropCaches()
	if got := rangeKV(t, s, nil, nil, 0); got != all {
		t.Errorf("after commit, from Badger: %q", got)
	}

	// fn may change the shard while ranging.
	var seen []string
	err := s.Range(nil, nil, func(k, v []byte) bool {
		seen = append(seen, string(k))
		switch string(k) {
		case "a":
			s.Delete([]byte("b")) // ahead: hidden
			s.Put([]byte("f"), []byte("f1"))
		case "e":
			s.Delete([]byte("e")) // the current key
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(seen, ","), ",a,e,f,g,h,\xff\xff"; got != want {
		t.Errorf("Range while changing: %q, want %q", got, want)
	}
}

func testIsolation(t *testing.T, db *DB) {
	shards := []*KeyValueShard{
		db.KeyValue("s1").Shard("p0"),
		db.KeyValue("s1").Shard("p1"),
		db.KeyValue("s2").Shard("p0"),
		db.KeyValue("a").Shard("bc"),
		db.KeyValue("ab").Shard("c"),
		db.KeyValue("").Shard(""),
	}
	if db.KeyValue("s1").Shard("p0") != shards[0] {
		t.Error("Shard does not return the same shard twice")
	}
	win := db.Windows("s1").Shard("p0")
	win.Put([]byte("k"), 0, 10, []byte("window"))
	for i, s := range shards {
		s.Put([]byte("k"), fmt.Appendf(nil, "v%d", i))
		s.Put(fmt.Appendf(nil, "only%d", i), []byte("x"))
	}
	check := func() {
		t.Helper()
		for i, s := range shards {
			wantGet(t, s, "k", fmt.Sprintf("v%d", i), true)
			if got, want := rangeKV(t, s, nil, nil, 0), fmt.Sprintf("k=v%d only%d=x", i, i); got != want {
				t.Errorf("shard %d Range = %q, want %q", i, got, want)
			}
		}
		if v, ok, err := win.Get([]byte("k"), 0, 10); err != nil || !ok || string(v) != "window" {
			t.Errorf("window Get = %q %v %v", v, ok, err)
		}
	}
	check()
	commit(t, db, nil)
	db.dropCaches()
	check()
	shards[1].Delete([]byte("k"))
	commit(t, db, nil)
	db.dropCaches()
	wantGet(t, shards[0], "k", "v0", true)
	wantGet(t, shards[1], "k", "", false)
}

type win struct {
	key        string
	start, end int64
	value      string
}

func fetchKey(t *testing.T, w *WindowShard, key string, from, to int64) []win {
	t.Helper()
	var out []win
	err := w.FetchKey([]byte(key), from, to, func(start, end int64, value []byte) bool {
		out = append(out, win{key, start, end, string(value)})
		return true
	})
	if err != nil {
		t.Fatalf("FetchKey: %v", err)
	}
	return out
}

func endingBefore(t *testing.T, w *WindowShard, end int64) []win {
	t.Helper()
	var out []win
	err := w.EndingBefore(end, func(key []byte, start, end int64, value []byte) bool {
		out = append(out, win{string(key), start, end, string(value)})
		return true
	})
	if err != nil {
		t.Fatalf("EndingBefore: %v", err)
	}
	return out
}

func testWindows(t *testing.T, db *DB) {
	w := db.Windows("win").Shard("p0")
	all := []win{
		{"a", -10000, -5000, "a1"},
		{"a", -5000, 0, "a2"},
		{"a", 0, 5000, "a3"},
		{"a", 0, 3000, "a3short"},
		{"a", 5000, 10000, "a4"},
		{"ab", 0, 5000, "ab"}, // a key that extends another
		{"b", -1, 1, "b"},
		{"", 7, 8, "empty"},
		{"m", math.MinInt64, math.MinInt64 + 1, "min"},
		{"m", math.MaxInt64 - 1, math.MaxInt64, "max"},
	}
	for _, x := range all {
		w.Put([]byte(x.key), x.start, x.end, []byte(x.value))
	}
	check := func(stage string) {
		t.Helper()
		if got, want := fetchKey(t, w, "a", math.MinInt64, math.MaxInt64), []win{all[0], all[1], all[3], all[2], all[4]}; !slices.Equal(got, want) {
			t.Errorf("%s: FetchKey(a, all) = %v, want %v", stage, got, want)
		}
		if got, want := fetchKey(t, w, "a", -5000, 0), []win{all[1], all[3], all[2]}; !slices.Equal(got, want) {
			t.Errorf("%s: FetchKey(a, -5000, 0) = %v, want %v", stage, got, want)
		}
		if got := fetchKey(t, w, "a", 1, 4999); len(got) != 0 {
			t.Errorf("%s: FetchKey(a, 1, 4999) = %v", stage, got)
		}
		if got := fetchKey(t, w, "a", 10, -10); len(got) != 0 {
			t.Errorf("%s: FetchKey with from > to = %v", stage, got)
		}
		if got, want := fetchKey(t, w, "m", math.MinInt64, math.MaxInt64), []win{all[8], all[9]}; !slices.Equal(got, want) {
			t.Errorf("%s: FetchKey(m) = %v, want %v", stage, got, want)
		}
		if got, want := fetchKey(t, w, "m", math.MaxInt64-1, math.MaxInt64-1), []win{all[9]}; !slices.Equal(got, want) {
			t.Errorf("%s: FetchKey(m, max-1) = %v, want %v", stage, got, want)
		}
		if got, want := endingBefore(t, w, 5000), []win{all[8], all[0], all[1], all[6], all[7], all[3]}; !slices.Equal(got, want) {
			t.Errorf("%s: EndingBefore(5000) = %v, want %v", stage, got, want)
		}
		if got := endingBefore(t, w, math.MinInt64+1); len(got) != 0 {
			t.Errorf("%s: EndingBefore(min+1) = %v", stage, got)
		}
		if got := endingBefore(t, w, math.MaxInt64); len(got) != len(all)-1 {
			t.Errorf("%s: EndingBefore(max) = %d windows, want %d", stage, len(got), len(all)-1)
		}
		if v, ok, err := w.Get([]byte("a"), 0, 3000); err != nil || !ok || string(v) != "a3short" {
			t.Errorf("%s: Get = %q %v %v", stage, v, ok, err)
		}
		if _, ok, _ := w.Get([]byte("a"), 0, 3001); ok {
			t.Errorf("%s: Get of a window never put", stage)
		}
	}
	check("cache")
	commit(t, db, nil)
	check("read cache")
	db.dropCaches()
	check("badger")

	// Update and delete keep both indexes in step.
	w.Put([]byte("a"), 0, 3000, []byte("a3short-updated-longer"))
	w.Delete([]byte("b"), -1, 1)
	all[3].value = "a3short-updated-longer"
	if got := endingBefore(t, w, 3001); !slices.Equal(got, []win{all[8], all[0], all[1], all[7], all[3]}) {
		t.Errorf("after update: EndingBefore(3001) = %v", got)
	}
	// Retention: delete what EndingBefore hands out.
	err := w.EndingBefore(0, func(key []byte, start, end int64, _ []byte) bool {
		w.Delete(key, start, end)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, drop := range []bool{false, true} {
		if drop {
			commit(t, db, nil)
			db.dropCaches()
		}
		if got := endingBefore(t, w, 3001); !slices.Equal(got, []win{all[1], all[7], all[3]}) {
			t.Errorf("after retention (committed %v): EndingBefore(3001) = %v", drop, got)
		}
		if got := fetchKey(t, w, "a", math.MinInt64, math.MaxInt64); !slices.Equal(got, []win{all[1], all[3], all[2], all[4]}) {
			t.Errorf("after retention (committed %v): FetchKey(a) = %v", drop, got)
		}
	}
}

func testMeta(t *testing.T, db *DB) {
	if _, ok, err := db.Meta("pos"); ok || err != nil {
		t.Fatalf("Meta before commit: %v %v", ok, err)
	}
	commit(t, db, map[string][]byte{"pos": []byte("10"), "other": {}})
	if v, ok, err := db.Meta("pos"); string(v) != "10" || !ok || err != nil {
		t.Errorf("Meta = %q %v %v", v, ok, err)
	}
	if v, ok, err := db.Meta("other"); len(v) != 0 || !ok || err != nil {
		t.Errorf("Meta(empty) = %q %v %v", v, ok, err)
	}
	commit(t, db, map[string][]byte{"pos": []byte("20"), "other": nil})
	if v, ok, _ := db.Meta("pos"); string(v) != "20" || !ok {
		t.Errorf("Meta = %q %v", v, ok)
	}
	if _, ok, _ := db.Meta("other"); ok {
		t.Errorf("Meta deleted by nil is still there")
	}
	// Metadata never collides with shard data.
	db.KeyValue("pos").Shard("pos").Put([]byte("pos"), []byte("data"))
	commit(t, db, nil)
	if v, _, _ := db.Meta("pos"); string(v) != "20" {
		t.Errorf("Meta = %q after a shard write", v)
	}
}

func testWipe(t *testing.T, db *DB) {
	s := db.KeyValue("kv").Shard("p0")
	w := db.Windows("w").Shard("p0")
	s.Put([]byte("committed"), []byte("1"))
	w.Put([]byte("k"), 0, 1, []byte("1"))
	commit(t, db, map[string][]byte{"pos": []byte("1")})
	s.Put([]byte("pending"), []byte("1"))
	if err := db.Wipe(); err != nil {
		t.Fatal(err)
	}
	wantGet(t, s, "committed", "", false)
	wantGet(t, s, "pending", "", false)
	if got := endingBefore(t, w, 10); len(got) != 0 {
		t.Errorf("windows after Wipe: %v", got)
	}
	if _, ok, _ := db.Meta("pos"); ok {
		t.Error("meta after Wipe")
	}
	if db.cacheBytes() != 0 {
		t.Errorf("cache holds %d bytes after Wipe", db.cacheBytes())
	}
	// Usable afterwards.
	s.Put([]byte("new"), []byte("1"))
	commit(t, db, nil)
	db.dropCaches()
	wantGet(t, s, "new", "1", true)
}

func testCacheFull(t *testing.T, db *DB) {
	const budget = 100 << 10
	db.opts.CacheBytes = budget
	s1 := db.KeyValue("kv").Shard("p0")
	s2 := db.Windows("w").Shard("p1")
	value := bytes.Repeat([]byte("v"), 100)
	i := 0
	for !db.CacheFull() {
		if i%2 == 0 {
			s1.Put(fmt.Appendf(nil, "key%06d", i), value)
		} else {
			s2.Put(fmt.Appendf(nil, "key%06d", i), int64(i), int64(i+1), value)
		}
		i++
		if i > budget {
			t.Fatal("CacheFull never trips")
		}
	}
	// Each put adds a few hundred bytes at most: it trips near the budget.
	if n := db.cacheBytes(); n < budget || n > budget+1024 {
		t.Errorf("CacheFull at %d bytes, budget %d", n, budget)
	}
	// Overwriting in place does not grow the cache.
	before := db.cacheBytes()
	for range 10 {
		s1.Put([]byte("key000000"), value)
	}
	if db.cacheBytes() != before {
		t.Errorf("overwrite grew the cache from %d to %d", before, db.cacheBytes())
	}
	commit(t, db, nil)
	if db.CacheFull() {
		t.Error("CacheFull after Commit")
	}
	if n := db.cacheBytes(); n > budget/2 {
		t.Errorf("read cache keeps %d bytes, more than half the budget %d", n, budget)
	}
	wantGet(t, s1, "key000000", string(value), true)
}

func testReadCache(t *testing.T, db *DB) {
	s := db.KeyValue("kv").Shard("p0")
	s.Put([]byte("hot"), []byte("1"))
	s.Delete([]byte("gone"))
	commit(t, db, nil)
	// Committed entries stay cached while small, as values and as known absences.
	if e := s.s.lookup([]byte("hot")); e == nil || e.dirty || string(e.value) != "1" {
		t.Errorf("hot key not kept clean in the read cache: %+v", e)
	}
	if e := s.s.lookup([]byte("gone")); e == nil || !e.del || e.dirty {
		t.Errorf("known absence not kept: %+v", e)
	}
	if len(s.s.dirty) != 0 {
		t.Errorf("%d dirty entries after commit", len(s.s.dirty))
	}
	// A commit with nothing pending writes nothing and keeps working.
	commit(t, db, nil)
	wantGet(t, s, "hot", "1", true)
	wantGet(t, s, "gone", "", false)
}

func testShardOps(t *testing.T, db *DB) {
	a := db.KeyValue("s").Shard("p0")
	b := db.KeyValue("s").Shard("p1")
	w := db.Windows("s").Shard("p0")
	a.Put([]byte("k1"), []byte("a1"))
	a.Put([]byte("k2"), []byte("a2"))
	b.Put([]byte("k1"), []byte("b1"))
	w.Put([]byte("k"), 1, 2, []byte("w"))
	db.KeyValue("s").Shard("empty")
	commit(t, db, nil)
	ids, err := db.listShards()
	if err != nil {
		t.Fatal(err)
	}
	want := []shardID{{kindKV, "s", "p0"}, {kindKV, "s", "p1"}, {kindWindow, "s", "p0"}}
	if !slices.Equal(ids, want) {
		t.Errorf("listShards = %v, want %v", ids, want)
	}
	var got []string
	if err := db.scanShard(shardID{kindKV, "s", "p0"}, func(k, v []byte) error {
		got = append(got, string(k)+"="+string(v))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != "k1=a1 k2=a2" {
		t.Errorf("scanShard = %v", got)
	}
	if err := db.dropShard(shardID{kindKV, "s", "p0"}); err != nil {
		t.Fatal(err)
	}
	wantGet(t, a, "k1", "", false)
	wantGet(t, b, "k1", "b1", true)
	if ids, _ := db.listShards(); !slices.Equal(ids, want[1:]) {
		t.Errorf("listShards after drop = %v", ids)
	}
}

// testConcurrentShards uses shards from several goroutines at once, with
// CacheFull polled meanwhile, and commits between rounds (the barrier).
func testConcurrentShards(t *testing.T, db *DB) {
	const workers, rounds, keys = 4, 5, 300
	shards := make([]*KeyValueShard, workers)
	wins := make([]*WindowShard, workers)
	for i := range shards {
		shards[i] = db.KeyValue("c").Shard(fmt.Sprint(i))
		wins[i] = db.Windows("c").Shard(fmt.Sprint(i))
	}
	for r := range rounds {
		var wg sync.WaitGroup
		stop := make(chan struct{})
		go func() {
			for {
				select {
				case <-stop:
					return
				default:
					db.CacheFull()
				}
			}
		}()
		for i := range workers {
			wg.Go(func() {
				s, w := shards[i], wins[i]
				for k := range keys {
					key := fmt.Appendf(nil, "k%d", k)
					v, _, err := s.Get(key)
					if err != nil {
						t.Error(err)
						return
					}
					s.Put(key, append(bytes.Clone(v), 'x'))
					w.Put(key, int64(r), int64(r+1), v)
				}
				s.Range(nil, nil, func(k, v []byte) bool { return true })
			})
		}
		wg.Wait()
		close(stop)
		commit(t, db, map[string][]byte{"round": fmt.Append(nil, r)})
		if r == 2 {
			db.dropCaches()
		}
	}
	for i, s := range shards {
		for k := range keys {
			if v, _ := mustGet(t, s, fmt.Sprintf("k%d", k)); v != strings.Repeat("x", rounds) {
				t.Fatalf("shard %d key %d = %q", i, k, v)
			}
		}
	}
}
