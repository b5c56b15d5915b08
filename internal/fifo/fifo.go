// Package fifo owns what the file input and output share about named
// pipes (FIFOs): telling one from a file, and making a read or write of one
// end with a context. It imports only the standard library.
package fifo

import (
	"context"
	"errors"
	"os"
	"time"
)

// Is reports whether path is a named pipe.
func Is(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode()&os.ModeNamedPipe != 0
}

// CutReads makes reads of f (a pipe, which Go reads through its poller)
// return once ctx ends, until the returned stop is called.
func CutReads(ctx context.Context, f *os.File) (stop func() bool) {
	return context.AfterFunc(ctx, func() { _ = f.SetReadDeadline(time.Now()) })
}

// CutWrites makes writes of f return once ctx ends, until the returned
// stop is called.
func CutWrites(ctx context.Context, f *os.File) (stop func() bool) {
	return context.AfterFunc(ctx, func() { _ = f.SetWriteDeadline(time.Now()) })
}

// Err is err, or ctx's error when a read or write was cut by it.
func Err(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		return ctx.Err()
	}
	return err
}
