package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
)

// atLeastOnce commits positions only of records every output wrote: in the
// state database of state.dir (with the state changes, atomically), and at
// sources that keep their own (Committer: a consumer group). A crash reads
// again at most what came after the last commit.
type atLeastOnce struct {
	r *runner
	// written is the position metadata of the last commit, so that an
	// idle pipeline does not write the same again.
	written map[string][]byte
}

func (a *atLeastOnce) open(context.Context) error {
	p := a.r.p
	if !p.needsStateDB() {
		return nil
	}
	if err := a.r.openState(); err != nil {
		return err
	}
	return a.r.resumeFromState()
}

func (a *atLeastOnce) readers() []reader {
	rs := make([]reader, len(a.r.p.inputs))
	for i := range a.r.p.inputs {
		rs[i] = inputReader{r: a.r, index: i}
	}
	return rs
}

func (a *atLeastOnce) begin() error { return nil }

func (a *atLeastOnce) read(int) {}

func (a *atLeastOnce) commit(ctx context.Context) error {
	if err := a.commitLocal(ctx); err != nil {
		return err
	}
	return a.r.commitAtSources(ctx, func(int) bool { return true })
}

// end commits once more. After a failure, positions are still committed
// where no state has to match them: they are resolved, so everything before
// them was written.
func (a *atLeastOnce) end(ctx context.Context, failed bool) error {
	if failed && a.r.p.state.stateful() {
		return nil
	}
	return a.commit(ctx)
}

// commitLocal commits the positions the engine keeps, and the state that
// matches them, to the state database.
func (a *atLeastOnce) commitLocal(ctx context.Context) error {
	r := a.r
	db := r.p.state.db
	if db == nil {
		return nil
	}
	if !r.p.state.stateful() {
		meta, err := r.positionMeta()
		if err != nil || maps.EqualFunc(meta, a.written, bytes.Equal) {
			return err
		}
		if err := db.Commit(meta); err != nil {
			return fmt.Errorf("committing positions: %w", err)
		}
		a.written = meta
		return nil
	}
	return r.atBarrier(ctx, func() error {
		if err := r.p.chain.FlushState(); err != nil {
			return fmt.Errorf("flushing state: %w", err)
		}
		meta, err := r.positionMeta()
		if err != nil {
			return err
		}
		if err := db.Commit(meta); err != nil {
			return fmt.Errorf("committing state: %w", err)
		}
		return nil
	})
}

func (a *atLeastOnce) writeFailed(err error) { a.r.fail(err) }

func (a *atLeastOnce) writeRetries() int { return a.r.p.Settings.MaxRetries }

// commitAtSources hands each chosen input that commits at its source
// (Committer) the positions below which everything is done.
func (r *runner) commitAtSources(ctx context.Context, chosen func(input int) bool) error {
	var errs []error
	for i, in := range r.p.inputs {
		c, ok := in.input.(Committer)
		if !ok || !chosen(i) {
			continue
		}
		points := r.positions[i].uncommitted()
		if len(points) == 0 {
			continue
		}
		if err := c.Commit(ctx, points); err != nil {
			errs = append(errs, fmt.Errorf("%s: commit: %w", in.path, err))
			continue
		}
		r.positions[i].markCommitted(points)
		r.p.metrics.committed.WithLabelValues(in.label).Inc()
	}
	return errors.Join(errs...)
}
