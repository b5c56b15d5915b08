package statestore

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpensAfterACrashLeftAnEmptyMemtable: a SIGKILL between Badger creating
// a memtable file and sizing it leaves a file of 0 bytes, on which Badger's
// own open fails; the state opens anyway, with what was committed, and
// says so in the log.
func TestOpensAfterACrashLeftAnEmptyMemtable(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Commit(map[string][]byte{"positions/input": []byte("42")}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for fid := 1; fid <= 3; fid++ {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%05d.mem", fid)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var logs bytes.Buffer
	db, err = Open(dir, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("the state does not open after an empty memtable was left: %v", err)
	}
	defer db.Close()
	v, found, err := db.Meta("positions/input")
	if err != nil || !found || string(v) != "42" {
		t.Fatalf("committed metadata %q, %v, %v; want 42", v, found, err)
	}
	if !strings.Contains(logs.String(), "removed an empty memtable file left by a crash") {
		t.Fatalf("the removal is not logged:\n%s", logs.String())
	}
}
