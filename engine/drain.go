package engine

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// The end of a run: after a stop request or a failure, what was read is
// processed and written within shutdown_timeout. Past it the drain is
// abandoned: writes are cancelled, nothing more commits, and every wait
// that is left is bounded by abandonGrace, so that a component that
// ignores its context (a write blocked on a stalled sink) cannot keep the
// process from ending.

// abandonGrace is how long, once the drain was abandoned, the run still
// waits for components to return, all waits together.
const abandonGrace = 700 * time.Millisecond

// drainWrites waits until every task processed what it was handed and every
// writer wrote it, flushing what processors held back when every input
// simply ended. It reports whether the shutdown timeout abandoned writes.
func (r *runner) drainWrites(allEnded bool) (timedOut bool) {
	tasksDone := r.waitOrAbandon("partition tasks", r.taskWG.Wait)
	if tasksDone && allEnded && !r.failed.Load() {
		r.flushAtEnd(r.writeCtx)
	}
	_ = r.flight.waitIdle(r.writeCtx)
	timedOut = r.writeCtx.Err() != nil
	if tasksDone {
		r.waitOrAbandon("output writers", r.stopWriters)
	}
	return timedOut
}

// drainWatch bounds the end of a run by the shutdown timeout after a stop
// request or a failure: past it, the writes of an unfinished drain are
// abandoned, or, when the drain finished, the last commit and the closing
// still under way (a commit blocked on a broker that stopped answering);
// either way every wait left shares abandonGrace.
type drainWatch struct {
	drained atomic.Bool // the drain finished; what is left is the last commit and closing
	done    chan struct{}
	wg      sync.WaitGroup
}

func (r *runner) watchDrain(abortWrites context.CancelFunc) *drainWatch {
	d := &drainWatch{done: make(chan struct{})}
	d.wg.Go(func() {
		select {
		case <-r.readCtx.Done():
		case <-d.done:
			return
		}
		t := time.NewTimer(r.p.Settings.ShutdownTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			// Abandoned writes leave state that no committed position
			// accounts for: no state may be committed after this.
			r.failed.Store(true)
			r.abandoned.Store(true)
			abortWrites()
			if d.drained.Load() {
				r.p.log.Warn("the stop did not finish within shutdown_timeout: abandoning the last commit and the closing", "shutdown_timeout", r.p.Settings.ShutdownTimeout)
			} else {
				r.p.log.Warn("the drain did not finish within shutdown_timeout: abandoning what is not written", "shutdown_timeout", r.p.Settings.ShutdownTimeout)
			}
			time.AfterFunc(abandonGrace, r.endGrace)
		case <-d.done:
		}
	})
	return d
}

// drainFinished notes that the drain is over; the watch goes on until the
// run ends.
func (d *drainWatch) drainFinished() { d.drained.Store(true) }

// finished ends the watch, with the run.
func (d *drainWatch) finished() {
	close(d.done)
	d.wg.Wait()
}

// waitOrAbandon runs wait, and returns whether it returned: always, unless
// the drain was abandoned and its grace ran out first. Then wait's
// goroutine is left behind, with the component it waits for, and logged.
func (r *runner) waitOrAbandon(what string, wait func()) bool {
	done := make(chan struct{})
	go func() {
		defer close(done)
		wait()
	}()
	select {
	case <-done:
		return true
	case <-r.graceCtx.Done():
		r.p.log.Error("abandoned: it did not return after the drain was abandoned; the process should end", "waiting_for", what)
		return false
	}
}

// flushAtEnd releases what processors held back until the end of input, a
// chunk at a time, each written under the in-flight cap. Intake is held
// while a chunk is made and dispatched, and let go between chunks: a state
// commit then waits for every dispatched chunk to be written before it
// commits the state those chunks replaced, and it keeps the write cache from
// growing over a long flush.
func (r *runner) flushAtEnd(ctx context.Context) {
	if r.intake.enter(ctx) != nil {
		return
	}
	inside := true
	newChunk := func() *Batch { return newBatch(nil, len(r.p.outputs)) }
	err := r.p.chain.Flush(ctx, newChunk, func(chunk *Batch) error {
		if err := r.flight.acquire(ctx); err != nil {
			return err
		}
		r.dispatch(chunk, r.newAck(nil))
		r.intake.leave()
		inside = false
		r.commitIfCacheFull()
		if err := r.intake.enter(ctx); err != nil {
			return err
		}
		inside = true
		return nil
	})
	if inside {
		r.intake.leave()
	}
	if err != nil && ctx.Err() == nil {
		r.fail(err)
	}
}
