package statestore

import "fmt"

// A full disk. Badger writes its memtable files (the write-ahead log), its
// value log and new tables through memory maps of files it sizes first with
// truncate, which leaves them sparse: a write to a mapped page that finds no
// free disk block behind it is a SIGBUS, in one of Badger's goroutines, and
// the process dies ("fatal error: fault"); no error comes back, and no
// recover can catch it. So the store never lets Badger start writing without
// room for everything it may write before the next check: Open, Commit,
// EachPending (before a changelog is written for the next Commit), a
// restore every restoreCheckBytes, and value-log GC check the free space of
// the directory first, and refuse with a *NoSpaceError.

// writeHeadroom is what Badger may write, beyond the data of a commit, before
// the store checks again (122 MiB with the sizes Open gives Badger, db.go):
//
//   - memtable files: the one being written and the numMemtables waiting to
//     be flushed, each a sparse file of 2 × memTableSize written through its
//     mapping (Badger starts the next one once a file holds memTableSize,
//     so only its last write request goes past that): 3 × 16 MiB;
//   - the compaction of level 0 into the base level, which writes its new
//     tables before it deletes the old ones: every level-0 table (at most
//     numLevelZeroTablesStall, one flushed memtable each) and the base
//     level they overlap: 8 × 8 MiB + 10 MiB.
//
// A commit's own data lands in level-0 tables (and, for large values, the
// value log); Commit adds its size.
const writeHeadroom = (numMemtables+1)*2*memTableSize + numLevelZeroTablesStall*memTableSize + baseLevelSize

// gcHeadroom is what value-log GC needs besides: it copies the live entries
// of one value-log file into the current one before deleting it.
const gcHeadroom = writeHeadroom + valueLogFileSize

// restoreCheckBytes is how much a restore writes between two checks.
const restoreCheckBytes = memTableSize

// NoSpaceError is a state directory whose disk lacks the room Badger may
// need to write into.
type NoSpaceError struct {
	Dir          string
	Free, Needed int64 // bytes
}

func (e *NoSpaceError) Error() string {
	return fmt.Sprintf("no space left for state in %s: %d MiB free, at least %d MiB needed",
		e.Dir, e.Free>>20, (e.Needed+1<<20-1)>>20)
}

// checkSpace fails with a *NoSpaceError unless the directory's disk has
// writeHeadroom free beyond the bytes about to be written. An in-memory
// store, or a system that cannot tell, always has room.
func (db *DB) checkSpace(writing int64) error {
	return db.checkRoom(writeHeadroom + writing)
}

func (db *DB) checkRoom(needed int64) error {
	if db.opts.InMemory {
		return nil
	}
	free, err := db.opts.statfs(db.dir)
	if err != nil {
		return fmt.Errorf("statestore: free space of %s: %w", db.dir, err)
	}
	if free >= 0 && free < needed {
		return &NoSpaceError{Dir: db.dir, Free: free, Needed: needed}
	}
	return nil
}
