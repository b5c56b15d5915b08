package statestore

import (
	"errors"
	"runtime/debug"
	"slices"
)

// KeyValueStore is a named key-value store, split into one shard per input
// partition.
type KeyValueStore struct {
	shards shardSet[KeyValueShard]
}

// Shard returns the store's shard for one input partition, creating it.
func (s *KeyValueStore) Shard(partition string) *KeyValueShard {
	return s.shards.get(partition)
}

// KeyValueShard is one partition's part of a key-value store: ordered bytes
// → bytes. Reads see this process's uncommitted writes (the cache first,
// then Badger). A shard is used by one goroutine at a time and takes no
// locks.
type KeyValueShard struct {
	s *shard
}

// Get returns the value of key. The value must not be modified; it stays
// valid until the next Put or Delete of key on this shard.
func (s *KeyValueShard) Get(key []byte) (value []byte, ok bool, err error) {
	return s.s.get(key)
}

// Put sets key to value in the write cache; both are copied.
func (s *KeyValueShard) Put(key, value []byte) { s.s.set(key, value) }

// Delete deletes key (a tombstone in the write cache).
func (s *KeyValueShard) Delete(key []byte) { s.s.del(key) }

// Range calls fn for the keys in [from, to) in order (nil from: from the
// first key; nil to: no upper bound), merging the write cache and Badger;
// fn returning false stops. Keys and values passed to fn are valid only
// during the call. fn may change the shard (changes to keys after the
// current one are seen). Badger iterators are always closed.
func (s *KeyValueShard) Range(from, to []byte, fn func(key, value []byte) bool) error {
	return s.s.scan(from, to, fn)
}

// Reload replaces the committed content of one partition's shard with what
// fill puts (a nil value deletes the key, which matters only for a key put
// earlier in the same reload), written straight to disk in write batches,
// past the write cache: loading a table larger than the cache holds none of
// it in memory. The shard's old content, committed or cached, is dropped
// first. It returns once everything put is durable in Badger, but commits
// no metadata; a crash during a reload leaves part of the new content, so
// callers reload again at their next start. Reload must not run while a
// shard is in use, and fill must not use this store.
func (s *KeyValueStore) Reload(partition string, fill func(put func(key, value []byte) error) error) (err error) {
	db := s.shards.db
	if db.closed {
		return errors.New("statestore: reload after close")
	}
	if err := db.failed(); err != nil {
		return err
	}
	id := shardID{kindKV, s.shards.name, partition}
	if err := db.dropShard(id); err != nil {
		return db.checked(err)
	}
	r := &Restorer{db: db, wb: db.bdb.NewWriteBatch()}
	defer func() {
		if err != nil {
			r.Cancel()
		}
	}()
	prefix := shardPrefix(id.kind, id.store, id.partition)
	key := slices.Clone(prefix)
	err = fill(func(k, v []byte) error {
		key = append(key[:len(prefix)], k...)
		return r.Apply(key, v)
	})
	if err != nil {
		return err
	}
	err = func() (err error) {
		defer db.intoBadger(debug.SetPanicOnFault(true), &err)
		return db.checked(r.wb.Flush())
	}()
	// Snapshots taken before the flush do not see what it wrote.
	db.dropReads()
	return err
}
