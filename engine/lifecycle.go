package engine

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// lifecycle remembers everything a run started or opened, and closes
// exactly that, in the reverse order: what started last (the inputs) closes
// first, what was opened first (state, a transactional session) last.
type lifecycle struct {
	closers []namedCloser
}

type namedCloser struct {
	path  string
	close func(context.Context) error
}

// closeTimeout bounds closing everything a run started.
const closeTimeout = 10 * time.Second

// start starts c, when it is a Starter, and remembers to close it.
func (l *lifecycle) start(ctx context.Context, path string, c any) error {
	if st, ok := c.(Starter); ok {
		if err := st.Start(ctx); err != nil {
			return fmt.Errorf("%s: start: %w", path, err)
		}
	}
	if cl, ok := c.(interface{ Close(context.Context) error }); ok {
		l.onClose(path, cl.Close)
	}
	return nil
}

// onClose remembers something to close.
func (l *lifecycle) onClose(path string, close func(context.Context) error) {
	l.closers = append(l.closers, namedCloser{path: path, close: close})
}

// closeAll closes everything remembered, last first, once each, within
// closeTimeout at most.
func (l *lifecycle) closeAll(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, closeTimeout)
	defer cancel()
	var errs []error
	for i := len(l.closers) - 1; i >= 0; i-- {
		c := l.closers[i]
		if err := c.close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: close: %w", c.path, err))
		}
	}
	l.closers = nil
	return errors.Join(errs...)
}

// startComponents starts sinks first, then processors, then sources, so
// that nothing read waits for a sink.
func (r *runner) startComponents(ctx context.Context) error {
	p := r.p
	for _, out := range p.outputs {
		if err := r.life.start(ctx, out.path, out.output); err != nil {
			return err
		}
	}
	for _, st := range p.chain.steps {
		if err := r.life.start(ctx, st.path, st.proc); err != nil {
			return err
		}
	}
	for _, in := range p.inputs {
		if err := r.life.start(ctx, in.path, in.input); err != nil {
			return err
		}
	}
	return r.checkCoPartitioning(ctx)
}
