package statestore

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
