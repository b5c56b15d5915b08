//go:build linux || darwin

package statestore

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// dirLock is an exclusive flock on the state directory, as Badger takes
// one, so that a process of an older build (which lets Badger lock) and
// one of this build exclude each other. Open holds it from before it
// verifies the store until Close.
type dirLock struct{ f *os.File }

func lockDir(dir string) (*dirLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrInUse, dir)
		}
		return nil, fmt.Errorf("statestore: locking %s: %w", dir, err)
	}
	return &dirLock{f: f}, nil
}

// badgerLocks says whether Badger must take its own lock.
const badgerLocks = false

func (l *dirLock) release() {
	if l != nil {
		l.f.Close() // closing the last descriptor releases the flock
	}
}

// freeBytes is the space an unprivileged process may still use on the disk
// of dir.
func freeBytes(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
