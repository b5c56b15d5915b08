package statestore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Faults of the directory under a store (verify.go, space.go, failure.go):
// damaged tables, tables that go bad under a running store, and a disk
// without room.

// committedTable commits n keys and closes the store, which leaves them in
// a table (SST); it returns the largest table's path.
func committedTable(t *testing.T, dir string, n int) string {
	t.Helper()
	db := openDisk(t, dir, Options{})
	shard := db.KeyValue("counts").Shard("p0")
	for i := range n {
		shard.Put(fmt.Appendf(nil, "key-%06d", i), fmt.Appendf(nil, "value-%d", i))
	}
	commit(t, db, map[string][]byte{"positions/input": []byte("42")})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return largestTable(t, dir)
}

func largestTable(t *testing.T, dir string) string {
	t.Helper()
	tables, err := filepath.Glob(filepath.Join(dir, "*.sst"))
	if err != nil || len(tables) == 0 {
		t.Fatalf("no table in %s (%v)", dir, err)
	}
	var largest string
	var size int64 = -1
	for _, path := range tables {
		if info, err := os.Stat(path); err == nil && info.Size() > size {
			largest, size = path, info.Size()
		}
	}
	return largest
}

func copyStore(t *testing.T, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOpenRefusesADamagedTable flips a byte of a table at offsets in its
// data blocks, its index and its footer: Open fails with a *CorruptError
// that names the directory and the table, instead of opening (and reading
// wrong values) or panicking.
func TestOpenRefusesADamagedTable(t *testing.T) {
	good := t.TempDir()
	table := committedTable(t, good, 20_000)
	info, err := os.Stat(table)
	if err != nil {
		t.Fatal(err)
	}
	size := info.Size()
	for _, off := range []int64{0, 1, size / 3, size / 2, size - 200, size - 40, size - 5, size - 1} {
		t.Run(fmt.Sprint(off), func(t *testing.T) {
			dir := t.TempDir()
			copyStore(t, good, dir)
			path := filepath.Join(dir, filepath.Base(table))
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			data[off] ^= 0x5a
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			db, err := Open(dir, Options{Logger: quietLogger})
			if err == nil {
				db.Close()
				t.Fatalf("a table with byte %d of %d flipped opened", off, size)
			}
			var corrupt *CorruptError
			prefix := "state in " + dir + " is corrupt (table " + filepath.Base(table) + " "
			if !errors.As(err, &corrupt) || corrupt.Dir != dir || !strings.HasPrefix(err.Error(), prefix) {
				t.Fatalf("Open: %v; want a *CorruptError starting %q", err, prefix)
			}
			// The directory is not left locked: it can be removed and used anew.
			if err := Remove(dir); err != nil {
				t.Fatal(err)
			}
			db = openDisk(t, dir, Options{})
			if _, found, _ := db.Meta("positions/input"); found {
				t.Fatal("Remove left the state in place")
			}
		})
	}
}

// TestRemoveKeepsOtherFiles: Remove deletes Badger's files only.
func TestRemoveKeepsOtherFiles(t *testing.T) {
	dir := t.TempDir()
	committedTable(t, dir, 10)
	notes := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notes, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Remove(dir); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "notes.txt" {
		t.Fatalf("after Remove the directory holds %v, want notes.txt only", entries)
	}
}

// TestRemoveRefusesAStoreInUse: a running store is never removed under it.
func TestRemoveRefusesAStoreInUse(t *testing.T) {
	dir := t.TempDir()
	openDisk(t, dir, Options{})
	if err := Remove(dir); !errors.Is(err, ErrInUse) {
		t.Fatalf("Remove of an open store: %v, want ErrInUse", err)
	}
	if _, err := Open(dir, Options{Logger: quietLogger}); !errors.Is(err, ErrInUse) {
		t.Fatalf("a second Open: %v, want ErrInUse", err)
	}
}

// failures records what Options.OnFailure was told.
type failures struct {
	mu   sync.Mutex
	errs []error
}

func (f *failures) record(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = append(f.errs, err)
}

func (f *failures) got() []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]error(nil), f.errs...)
}

// cutShort opens a store whose table is then cut to nothing under it, as a
// disk that fails or a file truncated by someone else would leave it: a
// read maps pages that are no longer there (a memory fault).
func cutShort(t *testing.T) (*DB, *failures) {
	t.Helper()
	dir := t.TempDir()
	table := committedTable(t, dir, 20_000)
	f := &failures{}
	db := openDisk(t, dir, Options{OnFailure: f.record})
	wantGet(t, db.KeyValue("counts").Shard("p0"), "key-000007", "value-7", true)
	db.dropReads()
	if err := os.Truncate(table, 0); err != nil {
		t.Fatal(err)
	}
	return db, f
}

// requireFailed checks that err is the store's one failure, reported once,
// and that nothing can be committed after it.
func requireFailed(t *testing.T, db *DB, f *failures, err error) {
	t.Helper()
	want := "state in " + db.dir + " cannot be used: Badger failed ("
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("reading a table cut short: %v; want an error starting %q", err, want)
	}
	if got := f.got(); len(got) != 1 || got[0].Error() != err.Error() {
		t.Fatalf("OnFailure was told %v, want once: %v", got, err)
	}
	db.KeyValue("counts").Shard("p0").Put([]byte("new"), []byte("x"))
	if cerr := db.Commit(map[string][]byte{"positions/input": []byte("43")}); cerr == nil || cerr.Error() != err.Error() {
		t.Fatalf("Commit after the failure: %v, want %v", cerr, err)
	}
}

func TestGetFromATableCutShortFailsTheStore(t *testing.T) {
	db, f := cutShort(t)
	_, _, err := db.KeyValue("counts").Shard("p0").Get([]byte("key-012345"))
	requireFailed(t, db, f, err)
}

func TestRangeOverATableCutShortFailsTheStore(t *testing.T) {
	db, f := cutShort(t)
	n := 0
	err := db.KeyValue("counts").Shard("p0").Range(nil, nil, func(_, _ []byte) bool { n++; return true })
	requireFailed(t, db, f, err)
}

// TestRangeLetsItsCallbacksPanicsThrough: only Badger's panics are the
// store's; one of the caller's own goes on.
func TestRangeLetsItsCallbacksPanicsThrough(t *testing.T) {
	dir := t.TempDir()
	committedTable(t, dir, 100)
	db := openDisk(t, dir, Options{})
	defer func() {
		if r := recover(); r != "the caller's" {
			t.Fatalf("recovered %v, want the callback's own panic", r)
		}
		if err := db.failed(); err != nil {
			t.Fatalf("the callback's panic failed the store: %v", err)
		}
	}()
	_ = db.KeyValue("counts").Shard("p0").Range(nil, nil, func(_, _ []byte) bool { panic("the caller's") })
}

// diskWith is a statfs reporting free bytes (changeable).
type diskWith struct {
	mu   sync.Mutex
	free int64
}

func (d *diskWith) statfs(string) (int64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.free, nil
}

func (d *diskWith) set(free int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.free = free
}

const mib = 1 << 20

func TestOpenRefusesADiskWithoutRoom(t *testing.T) {
	dir := t.TempDir()
	disk := &diskWith{free: 50 * mib}
	_, err := Open(dir, Options{Logger: quietLogger, statfs: disk.statfs})
	want := "no space left for state in " + dir + ": 50 MiB free, at least 122 MiB needed"
	var noSpace *NoSpaceError
	if !errors.As(err, &noSpace) || err.Error() != want {
		t.Fatalf("Open on a disk with 50 MiB free: %v; want %q", err, want)
	}
	disk.set(writeHeadroom)
	openDisk(t, dir, Options{statfs: disk.statfs}) // the directory was let go
}

// TestCommitWithoutRoomCommitsNothingMore: a commit that would leave Badger
// less than its headroom fails the store; no later commit goes through, not
// even once there is room again, and what was committed before stays.
func TestCommitWithoutRoomCommitsNothingMore(t *testing.T) {
	dir := t.TempDir()
	disk := &diskWith{free: 1 << 40}
	f := &failures{}
	db := openDisk(t, dir, Options{statfs: disk.statfs, OnFailure: f.record})
	shard := db.KeyValue("counts").Shard("p0")
	shard.Put([]byte("a"), []byte("1"))
	commit(t, db, map[string][]byte{"positions/input": []byte("1")})

	value := make([]byte, 1<<20)
	for i := range 4 {
		shard.Put(fmt.Appendf(nil, "big-%d", i), value)
	}
	disk.set(writeHeadroom + 3*mib) // room for 3 of the 4 MiB
	err := db.Commit(map[string][]byte{"positions/input": []byte("2")})
	want := "no space left for state in " + dir + ": 125 MiB free, at least 127 MiB needed"
	var noSpace *NoSpaceError
	if !errors.As(err, &noSpace) || err.Error() != want {
		t.Fatalf("Commit of 4 MiB with 3 MiB beyond the headroom: %v; want %q", err, want)
	}
	if got := f.got(); len(got) != 1 || got[0] != err {
		t.Fatalf("OnFailure was told %v, want once: %v", got, err)
	}
	if err := db.EachPending(func(Change) error { t.Fatal("EachPending handed a change out"); return nil }); err == nil {
		t.Fatal("EachPending after the failure: no error")
	}
	disk.set(1 << 40)
	if err := db.Commit(map[string][]byte{"positions/input": []byte("3")}); err == nil || err.Error() != want {
		t.Fatalf("Commit once there is room again: %v; want the first failure", err)
	}
	db = reopen(t, db, dir, Options{statfs: disk.statfs})
	if v, _, _ := db.Meta("positions/input"); string(v) != "1" {
		t.Fatalf("committed positions %q after the failed commits, want 1", v)
	}
	if _, found, _ := db.KeyValue("counts").Shard("p0").Get([]byte("big-0")); found {
		t.Fatal("a change of the refused commit was written")
	}
}

// TestEachPendingWithoutRoomHandsNothingOut: under exactly-once the
// changelog is written before Commit; without room for the commit, no
// change may reach the changelog.
func TestEachPendingWithoutRoomHandsNothingOut(t *testing.T) {
	disk := &diskWith{free: 1 << 40}
	db := openDisk(t, t.TempDir(), Options{statfs: disk.statfs})
	db.KeyValue("counts").Shard("p0").Put([]byte("a"), make([]byte, 2<<20))
	disk.set(writeHeadroom + mib)
	var noSpace *NoSpaceError
	err := db.EachPending(func(Change) error { t.Fatal("EachPending handed a change out"); return nil })
	if !errors.As(err, &noSpace) {
		t.Fatalf("EachPending without room: %v, want a *NoSpaceError", err)
	}
}

// TestRestoreWithoutRoomStops: a restore writes state through a write
// batch that Badger commits in the background; it stops once the disk
// lacks room.
func TestRestoreWithoutRoomStops(t *testing.T) {
	disk := &diskWith{free: 1 << 40}
	db := openDisk(t, t.TempDir(), Options{statfs: disk.statfs})
	r := db.NewRestorer()
	defer r.Cancel()
	disk.set(writeHeadroom)
	value := make([]byte, 64<<10)
	var err error
	for i := 0; err == nil && i < 1000; i++ {
		err = r.Apply(shardKey(fmt.Sprint(i)), value)
	}
	var noSpace *NoSpaceError
	if !errors.As(err, &noSpace) {
		t.Fatalf("a restore of 64 MiB with no room beyond the headroom: %v, want a *NoSpaceError", err)
	}
	if r.Applied() > restoreCheckBytes/int64(len(value))+1 {
		t.Fatalf("%d changes applied before the restore stopped, want at most %d MiB of them", r.Applied(), restoreCheckBytes>>20)
	}
}

// shardKey is a changelog key of the key-value store "counts", partition p0.
func shardKey(key string) []byte {
	return append(shardPrefix(kindKV, "counts", "p0"), key...)
}
