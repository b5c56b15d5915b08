package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Run runs the pipeline until every input has ended and everything read is
// written (a bounded run), ctx is cancelled (a graceful stop), or an error
// stops it. In each case it drains: inputs stop first, records already read
// are processed and written within the shutdown timeout, positions of
// written records are committed, outputs close last. The returned error is
// nil only when nothing read was left unwritten.
func (p *Pipeline) Run(ctx context.Context) error {
	return p.RunWith(ctx, Hooks{})
}

// Check asks every component that can (Checker) whether it will be able to
// start, sinks first, and returns every problem, each naming its component.
func (p *Pipeline) Check(ctx context.Context) error {
	var errs []error
	check := func(path string, c any) {
		if ch, ok := c.(Checker); ok {
			if err := ch.Check(ctx); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", path, err))
			}
		}
	}
	for _, out := range p.outputs {
		check(out.path, out.output)
	}
	for _, st := range p.chain.steps {
		check(st.path, st.proc)
	}
	for _, in := range p.inputs {
		check(in.path, in.input)
	}
	return errors.Join(errs...)
}

// Hooks let the process around a pipeline follow its phases (for /ready).
type Hooks struct {
	// Started is called once every component has started and reading began.
	Started func()
	// Draining is called when reading has stopped, for whatever reason, and
	// the pipeline is writing out what it read.
	Draining func()
}

// RunWith is Run, calling hooks as the pipeline changes phase.
func (p *Pipeline) RunWith(ctx context.Context, hooks Hooks) error {
	r := &runner{p: p, hooks: hooks, flight: newInFlight(p.Settings.MaxInFlight), commitNow: make(chan struct{}, 1)}
	r.positions = make([]*positionTracker, len(p.inputs))
	for i := range p.inputs {
		r.positions[i] = newPositionTracker()
	}
	r.protocol = r.newProtocol()
	return r.run(ctx)
}

// runner is one run of a pipeline. Its jobs live in files of their own:
// intake.go (read loops, hand-over), tasks.go (partition tasks),
// dispatch.go (routes, dead letters, acks), writers.go (output writers),
// positions.go (position tracking), offsets.go (positions kept in
// state.dir), commit*.go (the commit protocols), lifecycle.go (what was
// started, and closing it), drain.go (the end of a run).
type runner struct {
	p        *Pipeline
	hooks    Hooks
	protocol commitProtocol
	life     lifecycle

	flight    *inFlight          // the max_in_flight cap
	intake    gate               // closed by commits that need no batch in flight
	positions []*positionTracker // by input
	commitNow chan struct{}

	writes            []chan writeRequest // by output
	writing           sync.WaitGroup      // the writers but the dead-letter one
	deadLetterWriting sync.WaitGroup
	taskWG            sync.WaitGroup // the partition tasks

	// readCtx ends reading (a stop request, or a failure); writeCtx ends
	// writing, only when the drain is abandoned after shutdown_timeout.
	readCtx, writeCtx context.Context
	stopRead          context.CancelFunc

	fatalOnce sync.Once
	fatalErr  error
	failed    atomic.Bool // a fatal error happened: state must not be committed

	read, written atomic.Int64
}

func (r *runner) fail(err error) {
	r.fatalOnce.Do(func() {
		r.fatalErr = err
		r.failed.Store(true)
		r.p.log.Error("pipeline failed; stopping", "error", err)
		r.stopRead()
	})
}

func (r *runner) run(ctx context.Context) error {
	var abortWrites context.CancelFunc
	r.writeCtx, abortWrites = context.WithCancel(context.WithoutCancel(ctx))
	defer abortWrites()
	r.readCtx, r.stopRead = context.WithCancel(ctx)
	defer r.stopRead()
	if err := r.startUp(ctx); err != nil {
		return errors.Join(r.startFailed(ctx, err), r.life.closeAll())
	}
	r.startWriters(r.writeCtx)
	stopCommits := make(chan struct{})
	commitsDone := make(chan struct{})
	go func() {
		defer close(commitsDone)
		r.commitLoop(r.writeCtx, stopCommits)
	}()
	drain := r.watchDrain(abortWrites)
	ended := r.readAll()
	if r.hooks.Draining != nil {
		r.hooks.Draining()
	}
	timedOut := r.drainWrites(ended)
	drain.finished()
	close(stopCommits)
	<-commitsDone

	finalCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
	defer cancel()
	commitErr := r.protocol.end(finalCtx, r.failed.Load())
	closeErr := r.life.closeAll()
	r.p.log.Info("pipeline stopped", "read", r.read.Load(), "written", r.written.Load())
	switch {
	case r.fatalErr != nil:
		return r.fatalErr
	case timedOut:
		return fmt.Errorf("drain did not finish within shutdown_timeout (%s): records not yet written were abandoned and their positions not committed", r.p.Settings.ShutdownTimeout)
	case commitErr != nil:
		return commitErr
	}
	return closeErr
}

// startUp opens what commits need, then starts the components and begins.
func (r *runner) startUp(ctx context.Context) error {
	if err := r.protocol.open(ctx); err != nil {
		return err
	}
	if err := r.startComponents(ctx); err != nil {
		return err
	}
	return r.protocol.begin()
}

// startFailed is what a start that did not finish returns: nothing, when a
// stop request cut it short (nothing was read, so nothing is lost).
func (r *runner) startFailed(ctx context.Context, err error) error {
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		r.p.log.Info("stopped while starting", "cause", err)
		return nil
	}
	return err
}

// readAll runs the protocol's readers until each has stopped, and reports
// whether every input simply ended.
func (r *runner) readAll() (allEnded bool) {
	readers := r.protocol.readers()
	var wg sync.WaitGroup
	var ended atomic.Int32
	for _, rd := range readers {
		wg.Go(func() {
			if rd.read(r.readCtx) {
				ended.Add(1)
			}
		})
	}
	if r.hooks.Started != nil {
		r.hooks.Started()
	}
	wg.Wait()
	return int(ended.Load()) == len(readers)
}

// drainWrites waits until every task processed what it was handed and every
// writer wrote it, flushing what processors held back when every input
// simply ended. It reports whether the shutdown timeout abandoned writes.
func (r *runner) drainWrites(allEnded bool) (timedOut bool) {
	r.taskWG.Wait()
	if allEnded && !r.failed.Load() {
		r.flushAtEnd(r.writeCtx)
	}
	_ = r.flight.waitIdle(r.writeCtx)
	timedOut = r.writeCtx.Err() != nil
	r.stopWriters()
	return timedOut
}

// drainWatch abandons the writes of a drain that takes longer than the
// shutdown timeout after a stop request or a failure.
type drainWatch struct {
	done chan struct{}
	wg   sync.WaitGroup
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
			abortWrites()
		case <-d.done:
		}
	})
	return d
}

func (d *drainWatch) finished() {
	close(d.done)
	d.wg.Wait()
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
