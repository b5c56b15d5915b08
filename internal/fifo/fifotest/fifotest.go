// Package fifotest makes named pipes for tests. It imports only the
// standard library.
package fifotest

import (
	"path/filepath"
	"syscall"
	"testing"
)

// Make creates a named pipe called name in dir ("" for a new temporary
// directory) and returns its path.
func Make(t testing.TB, dir, name string) string {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, name)
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
