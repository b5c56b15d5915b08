// Package statestore holds the local state of one pipeline instance: the
// key-value and window stores of stateful processors, and the metadata (input
// positions) committed together with them.
//
// It owns:
//
//   - one Badger database per pipeline instance (Open), tuned small;
//   - key-value stores (ordered bytes → bytes) and window stores (key, start,
//     end → bytes, indexed by key and by end), each split into one shard per
//     input partition, so that a partition's state can later move between
//     instances (a shard is one key prefix: it can be listed and dropped on
//     its own);
//   - a write cache per shard (an ordered B-tree of pending puts and
//     tombstones) in front of Badger: reads see uncommitted changes, and hot
//     keys stay in memory; committed entries stay as a bounded read cache;
//   - Commit: every cached change of every shard made durable together with
//     the caller's metadata, atomically — after a crash either all of it or
//     none of it is visible (a commit too big for one Badger transaction is
//     bracketed by a marker; a torn one is wiped on Open);
//   - KeyValueStore.Reload: one shard's content replaced, written straight
//     to disk past the write cache (a join's table, rebuilt from its source
//     at every start);
//   - value-log garbage collection;
//   - the store's side of a changelog: EachPending lists the changes the next
//     Commit writes (the engine writes them to a changelog topic first), and
//     a Restorer writes changes read back from a changelog to disk;
//   - the faults of the directory under it (failure.go, verify.go,
//     space.go), so that wrong state is never used and Badger never crashes
//     the process.
//
// # Corruption
//
// Open verifies every table (SST) the manifest lists, its index and each
// block against their checksums, itself and before Badger sees them:
// Badger's own check runs in goroutines where some damage panics beyond any
// recover. A store that fails is refused with a *CorruptError ("state in DIR
// is corrupt (table 000042.sst fails at block 3 (offset 12288): checksum
// mismatch)"); what to do then is the caller's (the engine restores from
// the changelogs under exactly-once, and refuses to start otherwise; Remove
// wipes a directory). Badger then verifies every table it opens (a flush's
// or compaction's output before it replaces its inputs), and value-log
// entries as they are read. While running, a panic inside Badger, or a
// memory fault reading a mapped file (debug.SetPanicOnFault), is recovered
// at the package's boundary (gets, scans, commits) into an error. One limit
// is Badger's: a block that goes bad under a running store reads as missing
// keys, not as an error; the next Open finds it.
//
// # A full disk
//
// Badger writes memtables, the value log and new tables through memory
// maps of sparse files: a write that finds no free block is a SIGBUS in
// Badger's goroutines, which no recover catches. So Open, Commit,
// EachPending, a restore (every 8 MiB) and value-log GC first check that
// the directory's disk has room for what they write plus writeHeadroom
// (122 MiB: the memtable files, and a level-0 compaction, from the sizes
// Open gives Badger), and fail with a *NoSpaceError otherwise ("no space
// left for state in DIR: N MiB free, at least M MiB needed").
//
// # Failure
//
// A corrupt store, a failed read inside Badger or a full disk fails the
// store: Options.OnFailure is told once, and every later Commit (and read
// from disk) returns the same error, so that nothing is committed after it.
//
// # Concurrency
//
// Different shards may be used from different goroutines at once, but one
// shard must be used by one goroutine at a time: shards take no locks on
// Get, Put, Delete or Range. Commit, Wipe and Close must be called while no
// shard is in use (the engine's commit barrier); so must KeyValueStore.Reload,
// which writes one shard's new content straight to disk. CacheFull, Meta and
// the store and shard constructors are safe at any time.
//
// The package imports nothing of this project.
package statestore
