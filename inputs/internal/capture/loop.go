package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/pipelinehq/pipeline/engine"
)

// Retry delays of a session that failed (the server restarting, the
// network): doubled from the first to the last, and tried again for ever.
const (
	FirstRetry = 500 * time.Millisecond
	LastRetry  = 30 * time.Second
)

// Session is one connection's work: the checks, a snapshot when one is
// due, then the stream, until ctx ends or it fails. io.EOF ends the
// capture as the end of its input (an initial_only snapshot was read).
type Session func(ctx context.Context) error

// Loop runs the sessions of one input and hands their batches to Read.
type Loop struct {
	name    string // the input's kind, for errors: postgres_cdc
	subject string // what Ready names besides: slot orders_cdc
	log     *slog.Logger

	cancel func()
	done   chan struct{}
	items  chan item

	mu      sync.Mutex
	failure error // why the capture cannot go on now, for Ready
}

// item is a batch, or the error that ended the capture.
type item struct {
	batch engine.InputBatch
	err   error
}

// NewLoop is a loop for an input of kind name; subject, when not empty,
// says which capture it is in Ready's errors and the retry log.
func NewLoop(name, subject string, log *slog.Logger) *Loop {
	return &Loop{name: name, subject: subject, log: log}
}

// Start runs session, again after each failure it may mend, until Close.
func (l *Loop) Start(ctx context.Context, session Session) {
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l.cancel, l.done, l.items = cancel, make(chan struct{}), make(chan item)
	go l.run(runCtx, session)
}

func (l *Loop) run(ctx context.Context, session Session) {
	defer close(l.done)
	retry := FirstRetry
	for {
		began := time.Now()
		err := session(ctx)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, io.EOF) || IsFatal(err) {
			if !errors.Is(err, io.EOF) {
				l.SetFailure(Unmark(err))
			}
			select {
			case l.items <- item{err: err}:
			case <-ctx.Done():
			}
			return
		}
		if time.Since(began) > LastRetry {
			retry = FirstRetry // it ran a while: this is a new fault
		}
		l.SetFailure(err)
		l.log.Warn("change capture failed; connecting again", "capture", l.what(), "in", retry.String(), "error", err)
		select {
		case <-time.After(retry):
		case <-ctx.Done():
			return
		}
		retry = min(2*retry, LastRetry)
	}
}

// KeepAlive is what a session must go on doing while Read is slow to take
// a batch: Due fires when Send is next owed (PostgreSQL's status updates).
type KeepAlive interface {
	Due() <-chan time.Time
	Send(ctx context.Context) error
}

// Hand gives Read a batch and returns once Read took it, or ctx ended;
// keep, when not nil, is kept up meanwhile.
func (l *Loop) Hand(ctx context.Context, b engine.InputBatch, keep KeepAlive) error {
	for {
		var due <-chan time.Time
		if keep != nil {
			due = keep.Due()
		}
		select {
		case l.items <- item{batch: b}:
			return nil
		case <-due:
			if err := keep.Send(ctx); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Read returns the next batch, or the error that ended the capture
// (io.EOF at the end of an initial_only snapshot).
func (l *Loop) Read(ctx context.Context) (engine.InputBatch, error) {
	if l.items == nil {
		return engine.InputBatch{}, fmt.Errorf("%s: Read before Start", l.name)
	}
	select {
	case it := <-l.items:
		if it.err != nil {
			return engine.InputBatch{}, Unmark(it.err)
		}
		return it.batch, nil
	case <-l.done:
		return engine.InputBatch{}, fmt.Errorf("%s: the capture ended", l.name)
	case <-ctx.Done():
		return engine.InputBatch{}, ctx.Err()
	}
}

// SetFailure notes why the capture cannot go on now; nil once it runs.
func (l *Loop) SetFailure(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failure = err
}

// Ready is nil while the capture snapshots or streams, else why not.
func (l *Loop) Ready() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failure != nil {
		return fmt.Errorf("%s: %w", l.what(), l.failure)
	}
	return nil
}

func (l *Loop) what() string {
	if l.subject == "" {
		return l.name
	}
	return l.name + " " + l.subject
}

// Close stops the session and waits for it to end.
func (l *Loop) Close() {
	if l.cancel == nil {
		return
	}
	l.cancel()
	<-l.done
	l.cancel = nil
}
