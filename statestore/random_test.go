package statestore

import (
	"fmt"
	"maps"
	"math/rand"
	"slices"
	"strconv"
	"testing"
)

type winKey struct {
	key        string
	start, end int64
}

// kvModel is what a key-value shard should hold: a map and its sorted keys.
type kvModel map[string]string

func (m kvModel) rangeOf(from, to *string, limit int) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if from != nil && k < *from || to != nil && k >= *to {
			continue
		}
		out = append(out, k+"="+m[k])
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out
}

// testRandom runs random operations against a few shards and a model of
// them (Go maps), checking every read. With reopen, it also crashes: the
// database is closed without committing and opened again, and the model goes
// back to its last commit.
func testRandom(t *testing.T, db *DB, seed int64, ops int, reopen func(*DB) *DB) {
	rng := rand.New(rand.NewSource(seed))
	if seed%2 == 0 {
		db.opts.CacheBytes = 16 << 10 // trim the read cache often
	}
	names := [][2]string{{"r1", "p0"}, {"r1", "p1"}, {"r2", "p0"}}
	var kvs []*KeyValueShard
	var w *WindowShard
	bind := func() {
		kvs = kvs[:0]
		for _, n := range names {
			kvs = append(kvs, db.KeyValue(n[0]).Shard(n[1]))
		}
		w = db.Windows("rw").Shard("p0")
	}
	bind()
	cur := make([]kvModel, len(names))
	committed := make([]kvModel, len(names))
	for i := range cur {
		cur[i], committed[i] = kvModel{}, kvModel{}
	}
	wcur, wcommitted := map[winKey]string{}, map[winKey]string{}
	commits := 0

	keys := []string{"", "\x00", "\xff", "\xff\xff"}
	for i := range 200 {
		keys = append(keys, fmt.Sprintf("k%03d", i))
	}
	key := func() string { return keys[rng.Intn(len(keys))] }
	value := func() string { return strconv.Itoa(rng.Intn(1000)) + string(make([]byte, rng.Intn(20))) }
	wkey := func() winKey {
		start := int64(rng.Intn(40)-20) * 1000
		return winKey{fmt.Sprintf("w%d", rng.Intn(8)), start, start + int64(1+rng.Intn(3))*1000}
	}

	checkAll := func(stage string) {
		t.Helper()
		for i, s := range kvs {
			var got []string
			if err := s.Range(nil, nil, func(k, v []byte) bool {
				got = append(got, string(k)+"="+string(v))
				return true
			}); err != nil {
				t.Fatal(err)
			}
			if want := cur[i].rangeOf(nil, nil, 0); !slices.Equal(got, want) {
				t.Fatalf("%s: shard %d holds %d entries, model %d\n got %q\nwant %q", stage, i, len(got), len(want), got, want)
			}
		}
		var got []winKey
		if err := w.EndingBefore(1<<40, func(k []byte, start, end int64, v []byte) bool {
			if wcur[winKey{string(k), start, end}] != string(v) {
				t.Fatalf("%s: window %s %d %d = %q, model %q", stage, k, start, end, v, wcur[winKey{string(k), start, end}])
			}
			got = append(got, winKey{string(k), start, end})
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(wcur) {
			t.Fatalf("%s: %d windows, model %d", stage, len(got), len(wcur))
		}
		if !slices.IsSortedFunc(got, func(a, b winKey) int {
			if a.end != b.end {
				return int(a.end - b.end)
			}
			return 0
		}) {
			t.Fatalf("%s: EndingBefore not ordered by end: %v", stage, got)
		}
	}

	for op := range ops {
		i := rng.Intn(len(kvs))
		s, m := kvs[i], cur[i]
		switch p := rng.Intn(100); {
		case p < 30:
			k, v := key(), value()
			s.Put([]byte(k), []byte(v))
			m[k] = v
		case p < 42:
			k := key()
			s.Delete([]byte(k))
			delete(m, k)
		case p < 62:
			k := key()
			v, ok, err := s.Get([]byte(k))
			want, wantOK := m[k]
			if err != nil || ok != wantOK || string(v) != want {
				t.Fatalf("op %d: shard %d Get(%q) = %q %v %v, model %q %v", op, i, k, v, ok, err, want, wantOK)
			}
		case p < 70:
			var from, to *string
			if rng.Intn(4) > 0 {
				k := key()
				from = &k
			}
			if rng.Intn(4) > 0 {
				k := key()
				to = &k
			}
			limit := 0
			if rng.Intn(3) == 0 {
				limit = 1 + rng.Intn(10)
			}
			var fb, tb []byte
			if from != nil {
				fb = []byte(*from)
			}
			if to != nil {
				tb = []byte(*to)
			}
			var got []string
			if err := s.Range(fb, tb, func(k, v []byte) bool {
				got = append(got, string(k)+"="+string(v))
				return limit == 0 || len(got) < limit
			}); err != nil {
				t.Fatal(err)
			}
			if want := m.rangeOf(from, to, limit); !slices.Equal(got, want) {
				t.Fatalf("op %d: shard %d Range(%v, %v, %d)\n got %q\nwant %q", op, i, fb, tb, limit, got, want)
			}
		case p < 80:
			k := wkey()
			if rng.Intn(3) == 0 {
				w.Delete([]byte(k.key), k.start, k.end)
				delete(wcur, k)
			} else {
				v := value()
				w.Put([]byte(k.key), k.start, k.end, []byte(v))
				wcur[k] = v
			}
		case p < 85:
			k := wkey()
			lo, hi := k.start, k.start+int64(rng.Intn(10000))
			var want []winKey
			for x := range wcur {
				if x.key == k.key && x.start >= lo && x.start <= hi {
					want = append(want, x)
				}
			}
			slices.SortFunc(want, func(a, b winKey) int {
				if a.start != b.start {
					return int(a.start - b.start)
				}
				return int(a.end - b.end)
			})
			var got []winKey
			if err := w.FetchKey([]byte(k.key), lo, hi, func(start, end int64, v []byte) bool {
				x := winKey{k.key, start, end}
				if wcur[x] != string(v) {
					t.Fatalf("op %d: FetchKey value of %v = %q, model %q", op, x, v, wcur[x])
				}
				got = append(got, x)
				return true
			}); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("op %d: FetchKey(%s, %d, %d) = %v, model %v", op, k.key, lo, hi, got, want)
			}
		case p < 88:
			if rng.Intn(3) == 0 {
				db.opts.maxTxnBytes = int64(100 + rng.Intn(2000)) // split into many transactions
			} else {
				db.opts.maxTxnBytes = 0
			}
			commits++
			commit(t, db, map[string][]byte{"commits": []byte(strconv.Itoa(commits))})
			for j := range cur {
				committed[j] = maps.Clone(cur[j])
			}
			wcommitted = maps.Clone(wcur)
			if rng.Intn(3) == 0 {
				db.dropCaches()
			}
		case p < 89 && reopen != nil:
			// Crash: lose what was not committed.
			opts := db.opts
			db = reopen(db)
			db.opts = opts
			bind()
			for j := range cur {
				cur[j] = maps.Clone(committed[j])
			}
			wcur = maps.Clone(wcommitted)
			if v, _, err := db.Meta("commits"); err != nil || commits > 0 && string(v) != strconv.Itoa(commits) {
				t.Fatalf("op %d: after reopen Meta(commits) = %q %v, want %d", op, v, err, commits)
			}
			checkAll(fmt.Sprintf("op %d after reopen", op))
		}
	}
	checkAll("end")
	commit(t, db, nil)
	checkAll("end, committed")
	db.dropCaches()
	checkAll("end, from Badger")
	t.Logf("seed %d: %d ops, %d commits", seed, ops, commits)
}

func TestRandomWithCrashes(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{Logger: quietLogger})
	if err != nil {
		t.Fatal(err)
	}
	var last *DB
	reopen := func(old *DB) *DB {
		if err := old.Close(); err != nil { // no Commit: pending changes are lost
			t.Fatal(err)
		}
		db, err := Open(dir, Options{Logger: quietLogger})
		if err != nil {
			t.Fatal(err)
		}
		last = db
		return db
	}
	last = db
	t.Cleanup(func() { last.Close() })
	ops := 6000
	if testing.Short() {
		ops = 1500
	}
	testRandom(t, db, 42, ops, reopen)
}
