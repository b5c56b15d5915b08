package file

import (
	"context"
	"errors"
	"os"
	"syscall"
	"time"
)

// Named pipes (FIFOs) are read as streams: from whatever they deliver, to
// the end their last writer gives, with no position to resume from. Two of
// their waits would ignore a stop: opening one blocks until a writer opens
// it, and a read blocks while the writer is idle. Both are made to honour
// the context here.

func isPipe(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode()&os.ModeNamedPipe != 0
}

// openPipe opens a named pipe for reading. The blocking open runs aside; a
// stop wakes it by opening the pipe's write end (a non-blocking open for
// writing succeeds once a reader waits in open), then closes both.
func openPipe(ctx context.Context, path string) (*os.File, error) {
	type opened struct {
		f   *os.File
		err error
	}
	result := make(chan opened, 1)
	go func() {
		f, err := os.Open(path)
		result <- opened{f, err}
	}()
	select {
	case o := <-result:
		return o.f, o.err
	case <-ctx.Done():
	}
	for {
		// ENXIO until the open above waits in the kernel: try again.
		if w, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
		select {
		case o := <-result:
			if o.f != nil {
				o.f.Close()
			}
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// whileReading makes reads of f (a pipe, which Go reads through its
// poller) return once ctx ends, until the returned stop is called. The
// error such a read returns is then ctx's (see readError).
func whileReading(ctx context.Context, f *os.File) (stop func() bool) {
	return context.AfterFunc(ctx, func() { _ = f.SetReadDeadline(time.Now()) })
}

// readError is err, or ctx's error when a read was cut short by it.
func readError(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		return ctx.Err()
	}
	return err
}
