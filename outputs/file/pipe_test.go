package file_test

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/enginetest"
	"github.com/pipelinehq/pipeline/internal/fifo/fifotest"
	"github.com/pipelinehq/pipeline/outputs/file"
)

func pipeOutput(t *testing.T, path string) engine.Output {
	t.Helper()
	out := enginetest.NewOutput(t, file.Plugin(), "out", `{path: `+path+`}`)
	t.Cleanup(func() { _ = out.Close(context.Background()) })
	return out
}

// within fails the test unless f returns within d.
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %s", what, d)
	}
}

func TestPipeWithoutReaderStartReturnsOnCancel(t *testing.T) {
	out := pipeOutput(t, fifotest.Make(t, "", "pipe"))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	var err error
	within(t, time.Second, "Start on a pipe without a reader", func() { err = out.(engine.Starter).Start(ctx) })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start: %v, want the context's error", err)
	}
}

func TestPipeWithStalledReaderWriteReturnsOnCancel(t *testing.T) {
	path := fifotest.Make(t, "", "pipe")
	out := pipeOutput(t, path)
	reader := make(chan *os.File, 1)
	go func() {
		r, err := os.Open(path) // opens once the output does, then never reads
		if err != nil {
			t.Error(err)
		}
		reader <- r
	}()
	if err := out.(engine.Starter).Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := <-reader
	defer r.Close()
	// More than a pipe's buffer: the write blocks on the reader.
	big := engine.NewRecord([]byte(strings.Repeat("x", 1<<20)), engine.Text)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	var err error
	within(t, time.Second, "Write to a stalled pipe", func() { err = out.Write(ctx, []*engine.Record{big}) })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Write: %v, want the context's error", err)
	}
}

func TestPipeIsWrittenForItsReader(t *testing.T) {
	path := fifotest.Make(t, "", "pipe")
	out := pipeOutput(t, path)
	got := make(chan string, 1)
	go func() {
		r, err := os.Open(path)
		if err != nil {
			t.Error(err)
			got <- ""
			return
		}
		defer r.Close()
		b, _ := io.ReadAll(r)
		got <- string(b)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := out.(engine.Starter).Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := out.Write(ctx, []*engine.Record{engine.NewRecord([]byte("a"), engine.Text), engine.NewRecord([]byte("b"), engine.Text)}); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "a\nb\n" {
		t.Fatalf("the reader got %q", s)
	}
}
