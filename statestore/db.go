package statestore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// DefaultCacheBytes is the write-cache budget when Options.CacheBytes is 0.
const DefaultCacheBytes = 64 << 20

// Options configure Open.
type Options struct {
	// CacheBytes is the write-cache budget across all shards (default 64 MiB).
	// CacheFull reports when it is reached; after a commit, committed entries
	// stay cached as a read cache while they take at most half of it.
	CacheBytes int64
	// Logger receives warnings (a torn commit wiped on Open) and Badger's
	// errors; Badger's other messages only when it is enabled at debug level.
	// Nil means slog.Default().
	Logger *slog.Logger
	// InMemory keeps everything in memory (Badger's in-memory mode), for tests.
	InMemory bool
	// OnFailure, when set, is called once, from whichever goroutine found
	// it, when the store stops taking work: it was found corrupt, a read
	// failed inside Badger, or its disk is too full to write to. Every later
	// Commit (and read from disk) fails with the same error, so that nothing
	// more is committed; the caller should stop.
	OnFailure func(error)

	// Test hooks.
	maxTxnBytes    int64                           // > 0: a transaction holding more is treated as badger.ErrTxnTooBig
	crashAfterTxns int                             // > 0: a split commit fails after this many data transactions
	gcEvery        int                             // value-log GC every this many commits; 0: default, < 0: never
	statfs         func(dir string) (int64, error) // free bytes of dir's disk (< 0: unknown); nil: the file system's
}

const defaultGCEvery = 1000

// Badger's sizes, as Open sets them (badgerOptions). They also bound what
// Badger may write between two checks of the free space (writeHeadroom).
const (
	memTableSize            = 8 << 20
	numMemtables            = 2
	numLevelZeroTables      = 3
	numLevelZeroTablesStall = 8
	baseTableSize           = 2 << 20
	baseLevelSize           = 10 << 20
	levelSizeMultiplier     = 10
	valueLogFileSize        = 64 << 20
	blockSize               = 4 << 10
)

// errSimulatedCrash is returned by a split commit stopped by crashAfterTxns.
var errSimulatedCrash = errors.New("statestore: simulated crash during commit")

// ErrInUse is a state directory another process has open.
var ErrInUse = errors.New("statestore: the state directory is in use by another process")

// DB is the state of one pipeline instance: one Badger database.
type DB struct {
	bdb  *badger.DB
	dir  string
	lock *dirLock
	opts Options
	log  *slog.Logger

	// failure is why the store stopped taking work, once it did.
	failure atomic.Pointer[error]

	mu      sync.Mutex // guards kv, windows, byID, and stores to shards
	kv      map[string]*KeyValueStore
	windows map[string]*WindowStore
	byID    map[shardID]*shard
	shards  atomic.Pointer[[]*shard] // copy on write, read by CacheFull

	commits int
	closed  bool
}

// Open opens (creating) the state of one pipeline instance in dir: one Badger
// database. A commit found torn (interrupted mid-way by a crash) is wiped:
// the state and its metadata start empty, with a warning in the log. A
// store that fails its checksums is refused with a *CorruptError, a disk
// without room to write with a *NoSpaceError (see verify.go, space.go), a
// directory another process has open with ErrInUse.
func Open(dir string, opts Options) (*DB, error) {
	if opts.CacheBytes <= 0 {
		opts.CacheBytes = DefaultCacheBytes
	}
	if opts.gcEvery == 0 {
		opts.gcEvery = defaultGCEvery
	}
	if opts.statfs == nil {
		opts.statfs = freeBytes
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	db := &DB{
		dir:     dir,
		opts:    opts,
		log:     log,
		kv:      map[string]*KeyValueStore{},
		windows: map[string]*WindowStore{},
		byID:    map[shardID]*shard{},
	}
	db.shards.Store(&[]*shard{})
	bo := badger.DefaultOptions(dir).WithBypassLockGuard(!badgerLocks)
	if opts.InMemory {
		bo = badger.DefaultOptions("").WithInMemory(true)
	} else if err := db.prepareDir(); err != nil {
		return nil, err
	}
	bdb, err := openBadger(dir, db.badgerOptions(bo))
	if err != nil {
		db.lock.release()
		return nil, err
	}
	db.bdb = bdb
	err = db.failed() // Badger logged damage while it opened
	if err == nil {
		err = db.checkOnOpen(dir)
	}
	if err != nil {
		db.closeBadger()
		return nil, err
	}
	return db, nil
}

// prepareDir locks the directory and makes sure Badger may open it: there
// is room to write, nothing a crash left stops Badger, and every table
// passes its checksums. The lock is held until Close.
func (db *DB) prepareDir() error {
	lock, err := lockDir(db.dir)
	if err != nil {
		return err
	}
	db.lock = lock
	err = db.checkSpace(0)
	if err == nil {
		err = removeEmptyLogFiles(db.dir, db.log)
	}
	if err == nil {
		err = verifyTables(db.dir)
	}
	if err != nil {
		lock.release()
	}
	return err
}

func (db *DB) badgerOptions(bo badger.Options) badger.Options {
	// Small and steady for a 2-core box: the write cache in front does the
	// buffering, so Badger needs little memory of its own.
	return bo.
		WithMemTableSize(memTableSize).
		WithNumMemtables(numMemtables).
		WithNumLevelZeroTables(numLevelZeroTables).
		WithNumLevelZeroTablesStall(numLevelZeroTablesStall).
		WithBaseTableSize(baseTableSize). // compaction holds several tables in memory at once
		WithBaseLevelSize(baseLevelSize).
		WithLevelSizeMultiplier(levelSizeMultiplier).
		WithBlockSize(blockSize).
		WithBlockCacheSize(32 << 20). // half of it doubles point reads of spilled state
		// Uncompressed blocks are read in place; Snappy's would each need a
		// decompression buffer, which under point reads of spilled state
		// held hundreds of MiB.
		WithCompression(options.None).
		WithIndexCacheSize(8 << 20).
		WithValueLogFileSize(valueLogFileSize).
		// Every table Badger opens is verified whole: at Open (after
		// verifyTables, which Badger's own check cannot replace, see
		// verify.go), and each one a flush or compaction writes, which
		// then never replaces its inputs unless it reads back right. Not
		// OnTableAndBlockRead: a block failing its checksum in a read
		// comes back from Badger as a missing key, not as an error, so
		// checking every block read turns damage into silently missing
		// state instead of reporting it. Values in the value log carry a
		// checksum that a read then does report.
		WithChecksumVerificationMode(options.OnTableRead).
		WithVerifyValueChecksum(true).
		WithNumCompactors(2).
		WithNumGoroutines(2).
		WithDetectConflicts(false). // one writer: Commit
		WithMetricsEnabled(false).
		WithLogger(badgerLogger{log: db.log, all: db.log.Enabled(context.Background(), slog.LevelDebug), db: db})
}

// openBadger opens Badger, turning a panic in it, or an error that says
// its files failed a check, into a *CorruptError.
func openBadger(dir string, bo badger.Options) (bdb *badger.DB, err error) {
	defer func(prev bool) {
		debug.SetPanicOnFault(prev)
		if r := recover(); r != nil {
			bdb, err = nil, &CorruptError{Dir: dir, Cause: fmt.Errorf("Badger cannot open it: %s", firstLine(fmt.Sprint(r)))}
		}
	}(debug.SetPanicOnFault(true))
	bdb, err = badger.Open(bo)
	if err != nil && looksCorrupt(err) {
		return nil, &CorruptError{Dir: dir, Cause: errors.New(badgerMessage(err))}
	}
	return bdb, err
}

// removeEmptyLogFiles removes memtable and value log files of 0 bytes.
// Badger creates such a file and then sizes it; a crash in between
// (SIGKILL) leaves an empty one, on which Badger's open fails ("while
// opening memtables … Create a new file", dgraph-io/badger#2207; "Open
// existing file: …vlog … Create a new file" for the value log of a fresh
// directory). An empty file holds no entry, so nothing is lost with it.
func removeEmptyLogFiles(dir string, log *slog.Logger) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	kinds := map[string]string{".mem": "memtable", ".vlog": "value log"}
	for _, e := range entries {
		kind := kinds[filepath.Ext(e.Name())]
		if e.IsDir() || kind == "" {
			continue
		}
		info, err := e.Info()
		if err != nil || info.Size() != 0 {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
		log.Warn("state: removed an empty "+kind+" file left by a crash", "dir", dir, "file", e.Name())
	}
	return nil
}

func (db *DB) checkOnOpen(dir string) (err error) {
	defer db.intoBadger(debug.SetPanicOnFault(true), &err)
	var format []byte
	var torn bool
	err = db.bdb.View(func(txn *badger.Txn) error {
		if item, err := txn.Get(formatKey); err == nil {
			if format, err = item.ValueCopy(nil); err != nil {
				return err
			}
		} else if err != badger.ErrKeyNotFound {
			return err
		}
		_, err := txn.Get(markerKey)
		if err == nil {
			torn = true
			return nil
		}
		if err == badger.ErrKeyNotFound {
			return nil
		}
		return err
	})
	if err != nil {
		return db.checked(err)
	}
	if format != nil && string(format) != formatVersion {
		return fmt.Errorf("statestore: %s holds state format %q, this build reads %q", dir, format, formatVersion)
	}
	if torn {
		db.log.Warn("state: the last commit was interrupted; wiping the state, inputs start over", "dir", dir)
		return db.Wipe()
	}
	if format == nil {
		return db.writeFormat()
	}
	return nil
}

func (db *DB) writeFormat() error {
	return db.bdb.Update(func(txn *badger.Txn) error {
		return txn.Set(formatKey, []byte(formatVersion))
	})
}

// Close closes Badger, running value-log GC first when it has something to
// reclaim (and the store has not failed). Uncommitted changes are lost.
// Close must not run while a shard is in use.
func (db *DB) Close() error {
	if db.closed {
		return nil
	}
	db.closed = true
	db.dropReads()
	if db.failed() == nil {
		db.runGC()
	}
	return db.closeBadger()
}

// closeBadger closes Badger and lets go of the directory. After a failure
// inside Badger, closing it may fail the same way.
func (db *DB) closeBadger() (err error) {
	defer db.lock.release()
	defer func() {
		if r := recover(); r != nil {
			err = badgerFailed(db.dir, r)
		}
	}()
	return db.bdb.Close()
}

// runGC rewrites value-log files while Badger finds one worth it, and the
// disk has room for it.
func (db *DB) runGC() {
	if db.opts.InMemory {
		return
	}
	if err := db.checkRoom(gcHeadroom); err != nil {
		db.log.Debug("state: value-log GC skipped", "reason", err)
		return
	}
	for range 64 {
		if err := db.bdb.RunValueLogGC(0.5); err != nil {
			if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
				db.log.Warn("state: value-log GC", "err", err)
			}
			return
		}
	}
}

// KeyValue returns the key-value store named store. Keep the shards it
// returns rather than asking per record: creation takes a lock.
func (db *DB) KeyValue(store string) *KeyValueStore {
	db.mu.Lock()
	defer db.mu.Unlock()
	s := db.kv[store]
	if s == nil {
		s = &KeyValueStore{shards: newShardSet(db, kindKV, store, func(sh *shard) *KeyValueShard { return &KeyValueShard{s: sh} })}
		db.kv[store] = s
	}
	return s
}

// Windows returns the window store named store.
func (db *DB) Windows(store string) *WindowStore {
	db.mu.Lock()
	defer db.mu.Unlock()
	s := db.windows[store]
	if s == nil {
		s = &WindowStore{shards: newShardSet(db, kindWindow, store, func(sh *shard) *WindowShard { return &WindowShard{s: sh} })}
		db.windows[store] = s
	}
	return s
}

// shard returns the shard of id, creating it. The caller holds db.mu.
func (db *DB) shardLocked(id shardID) *shard {
	if s := db.byID[id]; s != nil {
		return s
	}
	s := newShard(db, id)
	db.byID[id] = s
	old := *db.shards.Load()
	list := make([]*shard, len(old), len(old)+1)
	copy(list, old)
	list = append(list, s)
	db.shards.Store(&list)
	return s
}

func (db *DB) shardList() []*shard { return *db.shards.Load() }

// dropReads discards every shard's read snapshot; the next read takes a new
// one. Called before anything writes to Badger.
func (db *DB) dropReads() {
	for _, s := range db.shardList() {
		s.dropTxn()
	}
}

// CacheFull reports whether the write cache passed its budget: the engine
// should commit soon. It is safe to call while shards are in use.
func (db *DB) CacheFull() bool { return db.cacheBytes() >= db.opts.CacheBytes }

func (db *DB) cacheBytes() int64 {
	var n int64
	for _, s := range db.shardList() {
		n += s.bytes.Load()
	}
	return n
}

// Meta returns committed metadata.
func (db *DB) Meta(key string) (_ []byte, _ bool, err error) {
	if err := db.failed(); err != nil {
		return nil, false, err
	}
	defer db.intoBadger(debug.SetPanicOnFault(true), &err)
	var v []byte
	err = db.bdb.View(func(txn *badger.Txn) error {
		item, err := txn.Get(metaKey(key))
		if err != nil {
			return err
		}
		v, err = item.ValueCopy(nil)
		return err
	})
	if err == badger.ErrKeyNotFound {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, db.checked(err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, true, nil
}

// Commit makes every cached change of every shard durable together with meta
// (for example input positions; a nil value deletes that key), atomically:
// after a crash either all of it or none of it is visible. Commit must not
// run while a shard is in use. On error nothing is forgotten: the changes
// stay pending and a later Commit writes them again; but once the store has
// failed (Options.OnFailure), every Commit fails, and a disk without room
// for this commit (a *NoSpaceError) fails the store.
func (db *DB) Commit(meta map[string][]byte) (err error) {
	if db.closed {
		return errors.New("statestore: commit after close")
	}
	if err := db.failed(); err != nil {
		return err
	}
	db.dropReads()
	shards := db.shardList()
	count, size := pendingSize(shards)
	for k, v := range meta {
		count++
		size += int64(1+len(k)+len(v)) + 16
	}
	if count == 0 {
		return nil
	}
	if err := db.checkSpace(size); err != nil {
		return db.fail(err)
	}
	defer db.intoBadger(debug.SetPanicOnFault(true), &err)
	// Try one transaction unless Badger's limits say it cannot fit.
	split := count >= db.bdb.MaxBatchCount() || size >= db.bdb.MaxBatchSize()
	if !split {
		err := db.write(shards, meta, false)
		if errors.Is(err, badger.ErrTxnTooBig) {
			split = true
		} else if err != nil {
			return err
		}
	}
	if split {
		if err := db.write(shards, meta, true); err != nil {
			return err
		}
	}
	for _, s := range shards {
		s.committed()
	}
	db.trimReadCache()
	db.commits++
	if db.opts.gcEvery > 0 && db.commits%db.opts.gcEvery == 0 {
		db.runGC()
	}
	return nil
}

// pendingSize counts the pending changes of shards, and their bytes as
// Badger counts them against its transaction limits.
func pendingSize(shards []*shard) (count, size int64) {
	for _, s := range shards {
		for _, e := range s.dirty {
			count++
			size += int64(len(s.prefix)+len(e.key)+len(e.value)) + 16
		}
	}
	return count, size
}

// write writes the pending changes and meta. Unsplit, it is one transaction
// (badger.ErrTxnTooBig if that is too small). Split, a marker is committed
// first in its own transaction, then the data in as many transactions as
// needed, and the metadata with the marker's removal last: Open finding the
// marker knows the commit was torn.
func (db *DB) write(shards []*shard, meta map[string][]byte, split bool) error {
	if split {
		stamp := []byte(time.Now().UTC().Format(time.RFC3339Nano))
		if err := db.bdb.Update(func(txn *badger.Txn) error { return txn.Set(markerKey, stamp) }); err != nil {
			return err
		}
	}
	w := &txnWriter{db: db, split: split, txn: db.bdb.NewTransaction(true)}
	defer func() {
		w.wait() // the key arena must outlive the background commits
		w.txn.Discard()
	}()
	var keys []byte // arena of full keys, alive until the last transaction commits
	for _, s := range shards {
		for _, e := range s.dirty {
			if len(keys)+len(s.prefix)+len(e.key) > cap(keys) {
				keys = make([]byte, 0, max(64<<10, len(s.prefix)+len(e.key)))
			}
			n := len(keys)
			keys = append(append(keys, s.prefix...), e.key...)
			if err := w.put(keys[n:len(keys):len(keys)], e.value, e.del); err != nil {
				return err
			}
		}
	}
	if split {
		// The data is written: the metadata and the marker's removal go
		// last, once every data transaction is in.
		if err := w.flush(); err != nil {
			return err
		}
		if err := w.wait(); err != nil {
			return err
		}
	}
	for _, k := range slices.Sorted(maps.Keys(meta)) {
		v := meta[k]
		if err := w.put(metaKey(k), v, v == nil); err != nil {
			return err
		}
	}
	if split {
		if err := w.put(markerKey, nil, true); err != nil {
			return err
		}
	}
	return w.txn.Commit()
}

// txnWriter writes into one transaction, or, split, into as many as needed.
// Split transactions are committed in the background, a few at a time, while
// the next one fills (Badger applies them in order); wait waits for them.
type txnWriter struct {
	db    *DB
	split bool
	txn   *badger.Txn
	size  int64
	txns  int // data transactions committed

	wg       sync.WaitGroup
	inflight chan struct{}
	mu       sync.Mutex
	err      error
}

const maxInflightTxns = 4

func (w *txnWriter) put(k, v []byte, del bool) error {
	est := int64(len(k)+len(v)) + 16
	if lim := w.db.opts.maxTxnBytes; lim > 0 && w.size > 0 && w.size+est > lim {
		if !w.split {
			return badger.ErrTxnTooBig
		}
		if err := w.flush(); err != nil {
			return err
		}
	}
	err := w.op(k, v, del)
	if errors.Is(err, badger.ErrTxnTooBig) && w.split && w.size > 0 {
		if err := w.flush(); err != nil {
			return err
		}
		err = w.op(k, v, del)
	}
	w.size += est
	return err
}

func (w *txnWriter) op(k, v []byte, del bool) error {
	if del {
		return w.txn.Delete(k)
	}
	return w.txn.Set(k, v)
}

// flush commits the current transaction in the background and starts the
// next one.
func (w *txnWriter) flush() error {
	if w.size == 0 {
		return nil
	}
	if w.inflight == nil {
		w.inflight = make(chan struct{}, maxInflightTxns)
	}
	w.inflight <- struct{}{}
	w.wg.Add(1)
	w.txn.CommitWith(func(err error) {
		if err != nil {
			w.mu.Lock()
			w.err = cmp.Or(w.err, err)
			w.mu.Unlock()
		}
		<-w.inflight
		w.wg.Done()
	})
	w.txn = w.db.bdb.NewTransaction(true)
	w.size = 0
	w.txns++
	if n := w.db.opts.crashAfterTxns; n > 0 && w.txns >= n {
		if err := w.wait(); err != nil {
			return err
		}
		return errSimulatedCrash
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// wait waits for the background commits and returns the first error.
func (w *txnWriter) wait() error {
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// trimReadCache keeps committed entries cached while all of them take at
// most half the budget, dropping whole shards, largest first, beyond that.
func (db *DB) trimReadCache() {
	total := db.cacheBytes()
	keep := db.opts.CacheBytes / 2
	if total <= keep {
		return
	}
	shards := slices.Clone(db.shardList())
	slices.SortFunc(shards, func(a, b *shard) int { return cmp.Compare(b.bytes.Load(), a.bytes.Load()) })
	for _, s := range shards {
		if total <= keep {
			return
		}
		total -= s.bytes.Load()
		s.clear()
	}
}

// dropCaches empties every shard's cache, pending changes included.
func (db *DB) dropCaches() {
	for _, s := range db.shardList() {
		s.clear()
	}
}

// Wipe deletes everything: state, pending changes and metadata. It must not
// run while a shard is in use.
func (db *DB) Wipe() (err error) {
	defer db.intoBadger(debug.SetPanicOnFault(true), &err)
	db.dropReads()
	db.dropCaches()
	if err := db.bdb.DropAll(); err != nil {
		return err
	}
	return db.writeFormat()
}

// listShards lists the shards that have committed data.
func (db *DB) listShards() (_ []shardID, err error) {
	if err := db.failed(); err != nil {
		return nil, err
	}
	defer db.intoBadger(debug.SetPanicOnFault(true), &err)
	var ids []shardID
	err = db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{nsShard}})
		defer it.Close()
		for it.Rewind(); it.Valid(); {
			id, n, err := parseShardPrefix(it.Item().Key())
			if err != nil {
				return err
			}
			ids = append(ids, id)
			it.Seek(prefixEnd(it.Item().Key()[:n]))
		}
		return nil
	})
	return ids, db.checked(err)
}

// scanShard calls fn for every committed entry of one shard, in key order,
// with the shard-relative key (for a changelog or a transfer). Keys and
// values are valid only during the call.
func (db *DB) scanShard(id shardID, fn func(suffix, value []byte) error) error {
	prefix := shardPrefix(id.kind, id.store, id.partition)
	return db.scanPrefix(prefix, func(key, value []byte) error { return fn(key[len(prefix):], value) })
}

// scanPrefix calls fn for every committed entry whose key starts with
// prefix, in key order. Keys and values are valid only during the call.
func (db *DB) scanPrefix(prefix []byte, fn func(key, value []byte) error) (err error) {
	if err := db.failed(); err != nil {
		return err
	}
	var inFn bool
	defer db.intoBadgerCalling(debug.SetPanicOnFault(true), &inFn, &err)
	return db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		var v []byte
		for it.Rewind(); it.Valid(); it.Next() {
			var err error
			if v, err = it.Item().ValueCopy(v[:0]); err != nil {
				return db.checked(err)
			}
			inFn = true
			err = fn(it.Item().Key(), v)
			inFn = false
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// dropShard deletes one shard, committed data and cache. It must not run
// while a shard is in use.
func (db *DB) dropShard(id shardID) (err error) {
	defer db.intoBadger(debug.SetPanicOnFault(true), &err)
	db.dropReads()
	db.mu.Lock()
	s := db.byID[id]
	db.mu.Unlock()
	if s != nil {
		s.clear()
	}
	return db.bdb.DropPrefix(shardPrefix(id.kind, id.store, id.partition))
}

// badgerLogger passes Badger's messages to slog: errors always, the rest
// only when the logger is enabled at debug level. An error or warning that
// says data failed a check (a table a flush or compaction wrote does not
// read back right) fails the store: Badger's goroutines have no other way
// to tell.
type badgerLogger struct {
	log *slog.Logger
	all bool
	db  *DB
}

func (l badgerLogger) Errorf(f string, a ...any) { l.emit(slog.LevelError, true, f, a) }
func (l badgerLogger) Warningf(f string, a ...any) {
	l.emit(slog.LevelWarn, l.all, f, a)
}
func (l badgerLogger) Infof(f string, a ...any) {
	if l.all {
		l.emit(slog.LevelDebug, true, f, a)
	}
}
func (l badgerLogger) Debugf(f string, a ...any) {
	if l.all {
		l.emit(slog.LevelDebug, true, f, a)
	}
}

func (l badgerLogger) emit(level slog.Level, shown bool, f string, a []any) {
	msg := strings.TrimSpace(fmt.Sprintf(f, a...))
	if level >= slog.LevelWarn && looksCorrupt(errors.New(msg)) {
		l.db.fail(&CorruptError{Dir: l.db.dir, Cause: errors.New(msg)})
	}
	if shown {
		l.log.Log(context.Background(), level, msg, "component", "badger")
	}
}

// DropStore deletes every shard of a store, committed data and cache. It
// must not run while a shard is in use.
func (db *DB) DropStore(store string) error {
	committed, err := db.listShards() // shards on disk
	if err != nil {
		return err
	}
	ids := map[shardID]bool{}
	for _, id := range committed {
		ids[id] = true
	}
	db.mu.Lock()
	for id := range db.byID { // and shards with only cached changes
		ids[id] = true
	}
	db.mu.Unlock()
	for id := range ids {
		if id.store == store {
			if err := db.dropShard(id); err != nil {
				return err
			}
		}
	}
	return nil
}
