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

// TestOpensAfterACrashLeftAnEmptyValueLog: a SIGKILL just after Badger
// created a fresh directory's value log file, before sizing it, leaves a
// 0-byte 000001.vlog, on which Badger's open fails ("Open existing file:
// … Create a new file"); seen after a kill 130–230 ms into a first start.
func TestOpensAfterACrashLeftAnEmptyValueLog(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "000001.vlog"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	db, err := Open(dir, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("the state does not open after an empty value log was left: %v", err)
	}
	if err := db.Commit(map[string][]byte{"positions/input": []byte("7")}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "removed an empty value log file left by a crash") {
		t.Fatalf("the removal is not logged:\n%s", logs.String())
	}
	db, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, found, err := db.Meta("positions/input"); err != nil || !found || string(v) != "7" {
		t.Fatalf("committed metadata %q, %v, %v; want 7", v, found, err)
	}
}
