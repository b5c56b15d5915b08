package engine

import (
	"context"
	"sync"
)

// inFlight caps the input batches read but not yet resolved (max_in_flight):
// reading takes a place before it reads, and waits at the cap, which is the
// pipeline's backpressure. A batch handed on to its task counts as in the
// run until it resolves; a commit waits until none is (a place taken by a
// reader still on its way to the intake gate does not count: the commit
// holds the gate shut). Every wait honours its context.
type inFlight struct {
	taken, handed, max int
	cond               waitable
}

func newInFlight(max int) *inFlight { return &inFlight{max: max} }

// acquire takes a place for one batch, waiting while the cap is reached.
func (f *inFlight) acquire(ctx context.Context) error {
	return f.cond.await(ctx, func() bool {
		if f.taken < f.max {
			f.taken++
			return true
		}
		return false
	})
}

// giveBack returns a place whose batch was never handed on.
func (f *inFlight) giveBack() { f.cond.change(func() { f.taken-- }) }

// handOn counts a place's batch as in the run.
func (f *inFlight) handOn() { f.cond.change(func() { f.handed++ }) }

// release ends a handed-on batch and frees its place.
func (f *inFlight) release() {
	f.cond.change(func() { f.taken--; f.handed-- })
}

// waitIdle waits until no handed-on batch is unresolved.
func (f *inFlight) waitIdle(ctx context.Context) error {
	return f.cond.await(ctx, func() bool { return f.handed == 0 })
}

// waitable is a condition variable whose waits honour a context: await
// runs try under its lock until try succeeds; change runs a change under
// the lock and wakes the waiters.
type waitable struct {
	mu      sync.Mutex
	changed chan struct{} // made by a waiter, closed by the next change
}

func (w *waitable) await(ctx context.Context, try func() bool) error {
	w.mu.Lock()
	for !try() {
		if w.changed == nil {
			w.changed = make(chan struct{})
		}
		changed := w.changed
		w.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
		w.mu.Lock()
	}
	w.mu.Unlock()
	return nil
}

func (w *waitable) change(fn func()) {
	w.mu.Lock()
	fn()
	if w.changed != nil {
		close(w.changed)
		w.changed = nil
	}
	w.mu.Unlock()
}

// gate is where read batches enter the run. Readers pass it together
// (enter, leave); a commit closes it (lock), so that no batch enters while
// it waits for those in flight and commits their positions and state. A
// closing commit goes before readers that come after it. Every wait
// honours its context.
type gate struct {
	inside int  // readers between enter and leave
	locked bool // a commit holds the gate, or waits for it
	cond   waitable
}

func (g *gate) enter(ctx context.Context) error {
	return g.cond.await(ctx, func() bool {
		if g.locked {
			return false
		}
		g.inside++
		return true
	})
}

func (g *gate) leave() { g.cond.change(func() { g.inside-- }) }

// lock closes the gate and waits until every reader inside has left.
func (g *gate) lock(ctx context.Context) error {
	if err := g.cond.await(ctx, func() bool {
		if g.locked {
			return false
		}
		g.locked = true
		return true
	}); err != nil {
		return err
	}
	if err := g.cond.await(ctx, func() bool { return g.inside == 0 }); err != nil {
		g.unlock()
		return err
	}
	return nil
}

func (g *gate) unlock() { g.cond.change(func() { g.locked = false }) }
