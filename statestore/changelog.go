package statestore

import (
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// A changelog is the log of a store's changes kept elsewhere (a compacted
// Kafka topic), from which the store can be rebuilt. The store's side of it
// is two calls: EachPending hands every change of the next Commit to the
// changelog writer, before the commit; a Restorer writes changes read back
// from the changelog straight to disk. A changelog record's key is the
// change's key as stored here (it names the store and partition), so that
// restoring needs no knowledge of either.

// Change is one pending change of a store.
type Change struct {
	Store     string // the store's name
	Partition string // the input partition of its shard
	Key       []byte // the key as stored, naming store and partition; valid during the call only
	Value     []byte // nil: the key is deleted; valid during the call only
}

// EachPending calls fn with every change the next Commit will write, shard
// by shard in key order of arrival. It must not run while a shard is in use.
// It calls fn for none, and fails, when the next Commit would: the store
// has failed, or its disk has no room for the changes (then the store
// fails), so that a changelog never holds changes local state cannot take.
func (db *DB) EachPending(fn func(Change) error) error {
	if err := db.failed(); err != nil {
		return err
	}
	shards := db.shardList()
	if _, size := pendingSize(shards); size > 0 {
		if err := db.checkSpace(size); err != nil {
			return db.fail(err)
		}
	}
	var key []byte
	for _, s := range shards {
		for _, e := range s.dirty {
			key = append(append(key[:0], s.prefix...), e.key...)
			c := Change{Store: s.id.store, Partition: s.id.partition, Key: key}
			if !e.del {
				c.Value = e.value
				if c.Value == nil {
					c.Value = []byte{}
				}
			}
			if err := fn(c); err != nil {
				return err
			}
		}
	}
	return nil
}

// Restorer writes changes read back from a changelog to disk, bypassing the
// caches. Finish commits them with meta (the changelog positions they reach);
// until then a crash may leave part of them written, which is harmless: a
// restore starts again from the positions of the last finished one, and
// changes are idempotent.
type Restorer struct {
	db *DB
	wb *badger.WriteBatch
	n  int64
	// unchecked is how many bytes were applied since the free space was
	// last checked (space.go).
	unchecked int64
}

// NewRestorer starts a restore. It must not run while a shard is in use; the
// caches are dropped, since what they hold may be older than what is
// restored.
func (db *DB) NewRestorer() *Restorer {
	db.dropReads()
	db.dropCaches()
	return &Restorer{db: db, wb: db.bdb.NewWriteBatch()}
}

// Apply writes one change: key as EachPending gave it, value nil to delete.
func (r *Restorer) Apply(key, value []byte) error {
	if len(key) == 0 || key[0] != nsShard {
		return fmt.Errorf("statestore: changelog key %q is not a state key", key)
	}
	if _, _, err := parseShardPrefix(key); err != nil {
		return fmt.Errorf("statestore: changelog key: %w", err)
	}
	if err := r.checkSpace(int64(len(key) + len(value))); err != nil {
		return err
	}
	// The batch keeps the slices until it flushes: copy them.
	k := append([]byte(nil), key...)
	var err error
	if value == nil {
		err = r.wb.Delete(k)
	} else {
		err = r.wb.Set(k, append([]byte(nil), value...))
	}
	r.n++
	return err
}

// checkSpace checks the free space once every restoreCheckBytes applied:
// the write batch commits in the background as it fills.
func (r *Restorer) checkSpace(applying int64) error {
	if r.unchecked += applying; r.unchecked < restoreCheckBytes {
		return nil
	}
	r.unchecked = 0
	if err := r.db.checkSpace(restoreCheckBytes); err != nil {
		return r.db.fail(err)
	}
	return nil
}

// Applied is how many changes were applied.
func (r *Restorer) Applied() int64 { return r.n }

// Finish flushes what was applied and commits meta with it.
func (r *Restorer) Finish(meta map[string][]byte) error {
	if err := r.wb.Flush(); err != nil {
		return err
	}
	return r.db.Commit(meta)
}

// Cancel drops what was not flushed yet.
func (r *Restorer) Cancel() { r.wb.Cancel() }

// EachCommitted calls fn with every committed state entry, in key order,
// keyed as a changelog keys it: what a restore from the changelogs would
// rebuild. Keys and values are valid only during the call.
func (db *DB) EachCommitted(fn func(key, value []byte) error) error {
	return db.scanPrefix([]byte{nsShard}, fn)
}
