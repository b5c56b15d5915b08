package statestore

import (
	"bytes"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/dgraph-io/badger/v4"
	"github.com/google/btree"
)

// entryOverhead approximates the memory of one cache entry beyond its key and
// value: the entry struct, its B-tree slot, its index slot and allocator
// rounding.
const entryOverhead = 112

// entry is one cached key of a shard: a pending put or delete (dirty), or a
// committed value or known absence kept as a read cache (clean).
type entry struct {
	key   []byte // shard-relative suffix; never modified
	value []byte // nil when del
	size  int64  // bytes charged to the cache
	del   bool   // a tombstone
	dirty bool   // not yet committed; listed in shard.dirty
}

func entryLess(a, b *entry) bool { return bytes.Compare(a.key, b.key) < 0 }

// shard is the common part of a key-value and a window shard: one Badger
// key prefix with a write cache in front of it. It is used by one goroutine
// at a time and takes no locks (see the package documentation).
type shard struct {
	db     *DB
	id     shardID
	prefix []byte

	cache *btree.BTreeG[*entry] // in key order, for scans
	index map[string]*entry     // the same entries, for point reads and writes
	gen   uint64                // counts insertions into cache, for scans to notice them
	dirty []*entry
	bytes atomic.Int64 // read by CacheFull from other goroutines

	rtxn    *badger.Txn // read snapshot, dropped at every commit
	scratch []byte      // full Badger keys for point reads
}

type shardID struct {
	kind             byte
	store, partition string
}

func newShard(db *DB, id shardID) *shard {
	s := &shard{
		db:     db,
		id:     id,
		prefix: shardPrefix(id.kind, id.store, id.partition),
		cache:  btree.NewG(32, entryLess),
		index:  map[string]*entry{},
	}
	return s
}

// txn is the shard's read snapshot of committed data.
func (s *shard) txn() *badger.Txn {
	if s.rtxn == nil {
		s.rtxn = s.db.bdb.NewTransaction(false)
	}
	return s.rtxn
}

func (s *shard) dropTxn() {
	if s.rtxn != nil {
		s.rtxn.Discard()
		s.rtxn = nil
	}
}

// lookup finds the cached entry of suffix.
func (s *shard) lookup(suffix []byte) *entry {
	return s.index[string(suffix)]
}

// insert adds a new entry to the cache. The index's string key shares the
// entry's key bytes, which are never modified.
func (s *shard) insert(e *entry) {
	s.cache.ReplaceOrInsert(e)
	s.index[unsafe.String(unsafe.SliceData(e.key), len(e.key))] = e
	s.gen++
}

func (s *shard) charge(e *entry, size int64) {
	s.bytes.Add(size - e.size)
	e.size = size
}

func (s *shard) markDirty(e *entry) {
	if !e.dirty {
		e.dirty = true
		s.dirty = append(s.dirty, e)
	}
}

// get reads suffix: the cache first, then Badger. The value is not copied
// when it comes from the cache.
func (s *shard) get(suffix []byte) (_ []byte, _ bool, err error) {
	if e := s.lookup(suffix); e != nil {
		if e.del {
			return nil, false, nil
		}
		return e.value, true, nil
	}
	if err := s.db.failed(); err != nil {
		return nil, false, err
	}
	defer s.db.intoBadger(debug.SetPanicOnFault(true), &err)
	s.scratch = append(append(s.scratch[:0], s.prefix...), suffix...)
	item, err := s.txn().Get(s.scratch)
	if err == badger.ErrKeyNotFound {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, s.db.checked(err)
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return nil, false, s.db.checked(err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, true, nil
}

// set caches a put of a copy of value and returns its entry. The value's
// buffer is reused when it is large enough.
func (s *shard) set(suffix, value []byte) *entry {
	e := s.lookup(suffix)
	if e == nil {
		buf := make([]byte, len(suffix)+len(value))
		n := copy(buf, suffix)
		copy(buf[n:], value)
		e = &entry{key: buf[:n:n], value: buf[n:]}
		s.insert(e)
	} else if cap(e.value) >= len(value) && e.value != nil {
		e.value = e.value[:len(value)]
		copy(e.value, value)
	} else {
		e.value = append(make([]byte, 0, len(value)), value...)
	}
	e.del = false
	s.charge(e, int64(len(e.key)+cap(e.value)+entryOverhead))
	s.markDirty(e)
	return e
}

// setShared caches a put of value without copying it and without charging
// its bytes: value belongs to another entry of the shard (the second index of
// a window).
func (s *shard) setShared(suffix, value []byte) {
	e := s.lookup(suffix)
	if e == nil {
		e = &entry{key: bytes.Clone(suffix)}
		s.insert(e)
	}
	e.value, e.del = value, false
	s.charge(e, int64(len(e.key)+entryOverhead))
	s.markDirty(e)
}

// del caches a delete.
func (s *shard) del(suffix []byte) {
	e := s.lookup(suffix)
	if e == nil {
		e = &entry{key: bytes.Clone(suffix)}
		s.insert(e)
	}
	e.value, e.del = nil, true
	s.charge(e, int64(len(e.key)+entryOverhead))
	s.markDirty(e)
}

// cursor walks the cache in key order below an optional bound. It reads the
// B-tree a batch at a time and reads it again from where it stands when the
// shard's gen shows an insertion; tombstones set meanwhile show on the
// entries themselves.
type cursor struct {
	s     *shard
	to    []byte
	buf   []*entry
	i     int
	gen   uint64
	more  bool // the B-tree may hold entries after buf
	pivot entry
	after bool
	visit btree.ItemIteratorG[*entry]
}

const cursorBatch = 64

func newCursor(s *shard, from, to []byte) *cursor {
	c := &cursor{s: s, to: to, buf: make([]*entry, 0, cursorBatch)}
	c.visit = c.add
	c.fill(from, false)
	return c
}

func (c *cursor) add(e *entry) bool {
	if c.after && bytes.Equal(e.key, c.pivot.key) {
		return true
	}
	if c.to != nil && bytes.Compare(e.key, c.to) >= 0 {
		return false
	}
	c.buf = append(c.buf, e)
	if len(c.buf) == cursorBatch {
		c.more = true
		return false
	}
	return true
}

// fill loads the entries from key from (after it if after).
func (c *cursor) fill(from []byte, after bool) {
	clear(c.buf)
	c.buf, c.i, c.more, c.gen = c.buf[:0], 0, false, c.s.gen
	c.pivot.key, c.after = from, after
	c.s.cache.AscendGreaterOrEqual(&c.pivot, c.visit)
	c.pivot.key = nil
}

// peek is the current entry, nil at the end.
func (c *cursor) peek() *entry {
	if c.i < len(c.buf) {
		return c.buf[c.i]
	}
	return nil
}

// sync repositions after an insertion: on the first entry after key.
func (c *cursor) sync(key []byte) {
	if c.s.gen != c.gen {
		c.fill(key, true)
	}
}

// next moves past the current entry, whose key is key.
func (c *cursor) next(key []byte) {
	c.i++
	if c.s.gen != c.gen || c.i == len(c.buf) && c.more {
		c.fill(key, true)
	}
}

// scan calls fn for suffixes in [from, to) in order (to nil: to the end of
// the shard), merging the cache over Badger. fn may change the shard: the
// cache is read again after a call that inserted into it, so changes to keys
// after the current one are seen. Keys and values passed to fn are valid
// only during the call.
func (s *shard) scan(from, to []byte, fn func(suffix, value []byte) bool) (err error) {
	if to != nil && bytes.Compare(from, to) >= 0 {
		return nil
	}
	if err := s.db.failed(); err != nil {
		return err
	}
	var inFn bool
	defer s.db.intoBadgerCalling(debug.SetPanicOnFault(true), &inFn, &err)
	call := func(suffix, value []byte) bool {
		inFn = true
		more := fn(suffix, value)
		inFn = false // not deferred: a panic in fn must leave it set
		return more
	}
	lo := append(append(make([]byte, 0, len(s.prefix)+len(from)), s.prefix...), from...)
	var hi []byte
	if to != nil {
		hi = append(append(make([]byte, 0, len(s.prefix)+len(to)), s.prefix...), to...)
	} else {
		hi = prefixEnd(s.prefix)
	}
	it := s.txn().NewIterator(badger.IteratorOptions{Prefix: s.prefix})
	defer it.Close()
	it.Seek(lo)

	plen := len(s.prefix)
	c := newCursor(s, from, to)
	var vbuf []byte
	for {
		var bk []byte
		if it.Valid() {
			if k := it.Item().Key(); bytes.Compare(k, hi) < 0 {
				bk = k[plen:]
			}
		}
		ce := c.peek()
		if ce == nil && bk == nil {
			return nil
		}
		if ce != nil {
			cmp := -1
			if bk != nil {
				cmp = bytes.Compare(ce.key, bk)
			}
			if cmp <= 0 {
				if cmp == 0 {
					it.Next() // the cache overrides Badger
				}
				if !ce.del && !call(ce.key, ce.value) {
					return nil
				}
				c.next(ce.key)
				continue
			}
		}
		vbuf, err = it.Item().ValueCopy(vbuf[:0])
		if err != nil {
			return s.db.checked(err)
		}
		if !call(bk, vbuf) {
			return nil
		}
		c.sync(bk)
		it.Next()
	}
}

// committed forgets that the dirty entries were pending: they stay as clean
// read-cache entries.
func (s *shard) committed() {
	for i, e := range s.dirty {
		e.dirty = false
		s.dirty[i] = nil
	}
	if cap(s.dirty) > 1<<16 {
		s.dirty = nil
	} else {
		s.dirty = s.dirty[:0]
	}
}

// clear empties the cache, pending changes included.
func (s *shard) clear() {
	s.cache.Clear(false)
	s.index = map[string]*entry{} // not clear(): give the memory back
	s.gen++
	clear(s.dirty)
	s.dirty = s.dirty[:0]
	s.bytes.Store(0)
}

// shardSet is a named store's shards, by input partition, made on first use.
type shardSet[T any] struct {
	db   *DB
	kind byte
	name string
	wrap func(*shard) *T
	mu   sync.Mutex
	m    map[string]*T
}

func newShardSet[T any](db *DB, kind byte, name string, wrap func(*shard) *T) shardSet[T] {
	return shardSet[T]{db: db, kind: kind, name: name, wrap: wrap, m: map[string]*T{}}
}

func (ss *shardSet[T]) get(partition string) *T {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	sh := ss.m[partition]
	if sh == nil {
		ss.db.mu.Lock()
		sh = ss.wrap(ss.db.shardLocked(shardID{ss.kind, ss.name, partition}))
		ss.db.mu.Unlock()
		ss.m[partition] = sh
	}
	return sh
}

// partitions lists the partitions that have a shard of this store.
func (ss *shardSet[T]) partitions() ([]string, error) {
	return ss.db.partitions(ss.kind, ss.name)
}
