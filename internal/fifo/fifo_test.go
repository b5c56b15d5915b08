package fifo

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestIs(t *testing.T) {
	dir := t.TempDir()
	pipe, file := filepath.Join(dir, "p"), filepath.Join(dir, "f")
	if err := syscall.Mkfifo(pipe, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if !Is(pipe) || Is(file) || Is(filepath.Join(dir, "missing")) {
		t.Fatalf("Is: pipe %v, file %v, missing %v", Is(pipe), Is(file), Is(filepath.Join(dir, "missing")))
	}
}

// A read blocked on an idle pipe returns the context's error once it ends.
func TestCutReads(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	stop := CutReads(ctx, r)
	defer stop()
	done := make(chan error, 1)
	go func() {
		_, err := r.Read(make([]byte, 10))
		done <- Err(ctx, err)
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("read: %v, want the context's error", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the read did not return within 2s of its context's end")
	}
	if err := Err(context.Background(), errors.New("other")); err.Error() != "other" {
		t.Fatalf("Err changed an unrelated error: %v", err)
	}
}
