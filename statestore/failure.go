package statestore

import (
	"fmt"
	"runtime/debug"
)

// A store that found itself corrupt, or without room on its disk, takes no
// more work: the first such error is kept, reported once through
// Options.OnFailure, and returned by every later Commit and read from disk,
// so that nothing computed from state that may be wrong is ever committed.

// fail records err as the store's failure, unless it has one, and tells
// Options.OnFailure. It returns the store's failure.
func (db *DB) fail(err error) error {
	if db.failure.CompareAndSwap(nil, &err) && db.opts.OnFailure != nil {
		db.opts.OnFailure(err)
	}
	return *db.failure.Load()
}

// failed is the store's failure, or nil.
func (db *DB) failed() error {
	if p := db.failure.Load(); p != nil {
		return *p
	}
	return nil
}

// checked passes an error from Badger on, failing the store with a
// *CorruptError when it says data on disk failed a check (a value's
// checksum).
func (db *DB) checked(err error) error {
	if err == nil || !looksCorrupt(err) {
		return err
	}
	return db.fail(&CorruptError{Dir: db.dir, Cause: fmt.Errorf("reading it: %s", badgerMessage(err))})
}

// intoBadger is deferred around a call into Badger made in the caller's
// goroutine, as
//
//	defer db.intoBadger(debug.SetPanicOnFault(true), &err)
//
// A panic in Badger (it panics on some damaged data), or a memory fault
// reading a mapped file (a disk read error, a file cut short), which
// SetPanicOnFault turns into a panic, fails the store instead of the
// process. Open verifies the store again at the next start.
func (db *DB) intoBadger(prevPanicOnFault bool, err *error) {
	debug.SetPanicOnFault(prevPanicOnFault)
	if r := recover(); r != nil {
		*err = db.fail(badgerFailed(db.dir, r))
	}
}

// intoBadgerCalling is intoBadger around a call into Badger that calls back
// (a scan calling its fn): a panic while inCallback is the callback's own,
// and goes on as it was.
func (db *DB) intoBadgerCalling(prevPanicOnFault bool, inCallback *bool, err *error) {
	debug.SetPanicOnFault(prevPanicOnFault)
	if r := recover(); r != nil {
		if *inCallback {
			panic(r)
		}
		*err = db.fail(badgerFailed(db.dir, r))
	}
}

func badgerFailed(dir string, r any) error {
	return fmt.Errorf("state in %s cannot be used: Badger failed (%s); it may be corrupt, and is verified when the pipeline starts again", dir, firstLine(fmt.Sprint(r)))
}
