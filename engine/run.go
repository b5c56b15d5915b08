package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
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
	r.graceCtx, r.endGrace = context.WithCancel(context.Background())
	defer r.endGrace()
	return r.run(ctx)
}

// runner is one run of a pipeline. Its jobs live in files of their own:
// intake.go (read loops, hand-over), tasks.go (partition tasks),
// dispatch.go (routes, dead letters, acks), writers.go (output writers),
// positions.go (position tracking), offsets.go (positions kept in
// state.dir), commit*.go (the commit protocols), lifecycle.go (what was
// started, and closing it), drain.go (the end of a run, and abandoning it).
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
	sharedTasks       *sharedTasks   // the co-partitioned tasks, shared by the readers

	// readCtx ends reading (a stop request, or a failure); writeCtx ends
	// writing, only when the drain is abandoned after shutdown_timeout.
	readCtx, writeCtx context.Context
	stopRead          context.CancelFunc
	// graceCtx ends abandonGrace after an abandoned drain (drain.go).
	graceCtx context.Context
	endGrace context.CancelFunc

	fatalOnce sync.Once
	fatalErr  error
	failed    atomic.Bool // a fatal error happened: state must not be committed

	read, written atomic.Int64
	abandoned     atomic.Bool // the shutdown timeout cut the end of the run short (drain.go)
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
		return errors.Join(r.startFailed(ctx, err), r.life.closeAll(context.Background()))
	}
	r.startWriters(r.writeCtx)
	stopCommits := make(chan struct{})
	commitsDone := make(chan struct{})
	go func() {
		defer close(commitsDone)
		r.commitLoop(r.writeCtx, stopCommits)
	}()
	drain := r.watchDrain(abortWrites)
	defer drain.finished()
	ended := r.readAll()
	if r.hooks.Draining != nil {
		r.hooks.Draining()
	}
	timedOut := r.drainWrites(ended)
	drain.drainFinished()
	close(stopCommits)
	r.waitOrAbandon("the commit loop", func() { <-commitsDone })

	// After an abandoned drain, ending and closing get what is left of
	// its grace.
	finalCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
	defer cancel()
	defer context.AfterFunc(r.graceCtx, cancel)()
	var commitErr, closeErr error
	r.waitOrAbandon("the end of the last commit", func() { commitErr = r.protocol.end(finalCtx, r.failed.Load()) })
	r.waitOrAbandon("closing the components", func() { closeErr = r.life.closeAll(finalCtx) })
	r.p.log.Info("pipeline stopped", "read", r.read.Load(), "written", r.written.Load())
	switch {
	case r.fatalErr != nil:
		return r.fatalErr
	case timedOut:
		return fmt.Errorf("drain did not finish within shutdown_timeout (%s): records not yet written were abandoned and their positions not committed", r.p.Settings.ShutdownTimeout)
	case r.abandoned.Load():
		return fmt.Errorf("the stop did not finish within shutdown_timeout (%s): the last commit and the closing were abandoned "+
			"(every record was written; what the last commit did not settle is read again at the next start)", r.p.Settings.ShutdownTimeout)
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
	r.sharedTasks = newSharedTasks(len(readers))
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
	if !r.waitOrAbandon("inputs", wg.Wait) {
		return false
	}
	return int(ended.Load()) == len(readers)
}
