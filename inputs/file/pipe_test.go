package file_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/enginetest"
	"github.com/pipelinehq/pipeline/inputs/file"
	"github.com/pipelinehq/pipeline/internal/fifo/fifotest"
)

// startPipeInput starts a file input on path and returns it.
func startPipeInput(t *testing.T, path string) engine.Input {
	t.Helper()
	in := enginetest.NewInput(t, file.Plugin(), "in", `{paths: [`+path+`]}`)
	if err := in.(engine.Starter).Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Close(context.Background()) })
	return in
}

// readCancelled reads in until ctx, cancelled after 100ms, ends the read;
// it must end within a second after that.
func readCancelled(t *testing.T, in engine.Input) (engine.InputBatch, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	type result struct {
		b   engine.InputBatch
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := in.Read(ctx)
		done <- result{b, err}
	}()
	select {
	case r := <-done:
		return r.b, r.err
	case <-time.After(1100 * time.Millisecond):
		t.Fatal("Read on a named pipe did not return within a second of its context's end")
	}
	return engine.InputBatch{}, nil
}

func TestPipeWithoutWriterReturnsOnCancel(t *testing.T) {
	in := startPipeInput(t, fifotest.Make(t, "", "pipe"))
	if _, err := readCancelled(t, in); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Read: %v, want the context's error", err)
	}
}

func TestIdlePipeReturnsOnCancelAndReadsOnAfter(t *testing.T) {
	path := fifotest.Make(t, "", "pipe")
	in := startPipeInput(t, path)
	idle := make(chan struct{})
	writerDone := make(chan struct{})
	t.Cleanup(func() { close(idle); <-writerDone })
	go func() {
		defer close(writerDone)
		// Opening for writing waits for the input's open for reading.
		w, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer w.Close()
		if _, err := w.WriteString("one\ntwo\n"); err != nil {
			t.Error(err)
		}
		<-idle // idle, the pipe still open, until the test ends
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := in.Read(ctx)
	if err != nil || len(b.Records) != 2 {
		t.Fatalf("Read: %d records, %v; want the 2 lines written, without waiting for more", len(b.Records), err)
	}
	// The writer is idle: a stop must not wait for it.
	if _, err := readCancelled(t, in); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Read of an idle pipe: %v, want the context's error", err)
	}
}

func TestPipeIsReadToItsWritersEnd(t *testing.T) {
	path := fifotest.Make(t, "", "pipe")
	in := startPipeInput(t, path)
	go func() {
		w, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Error(err)
			return
		}
		w.WriteString("a\nb\nc\n")
		w.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var got []string
	for {
		b, err := in.Read(ctx)
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatal(err)
			}
			break
		}
		for _, r := range b.Records {
			v, _ := r.Bytes()
			got = append(got, string(v))
		}
	}
	if len(got) != 3 || got[0] != "a" || got[2] != "c" {
		t.Fatalf("read %q, want a, b, c", got)
	}
}
