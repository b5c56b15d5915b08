package file

import (
	"context"
	"errors"
	"os"
	"syscall"
	"time"
)

// A named pipe (FIFO) as the output's path is written as a stream. Two of
// its waits would ignore a stop: opening it blocks until a reader opens it,
// and a write blocks while the reader does not read. Both honour the
// context here; nothing is cut back on a pipe (what was written was read).

// pipeRetry is how often a pipe without a reader is tried again.
const pipeRetry = 50 * time.Millisecond

// openPipe opens a named pipe for writing once a reader has it open, or
// returns ctx's error. A non-blocking open fails with ENXIO until then; the
// file it gives is written through Go's poller, so deadlines cut writes.
func openPipe(ctx context.Context, path string, waiting func()) (*os.File, error) {
	warned := false
	for {
		f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if !errors.Is(err, syscall.ENXIO) {
			return f, err
		}
		if !warned {
			waiting()
			warned = true
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pipeRetry):
		}
	}
}
