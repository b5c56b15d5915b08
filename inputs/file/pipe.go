package file

import (
	"context"
	"os"
	"syscall"
	"time"
)

// Named pipes (FIFOs) are read as streams: from whatever they deliver, to
// the end their last writer gives, with no position to resume from. Two of
// their waits would ignore a stop: opening one blocks until a writer opens
// it, and a read blocks while the writer is idle. Both are made to honour
// the context: the open here, reads with internal/fifo.

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
