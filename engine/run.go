package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
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
	r := &runner{p: p, slots: make(chan struct{}, p.Settings.MaxInFlight), hooks: hooks}
	return r.run(ctx)
}

type runner struct {
	p     *Pipeline
	hooks Hooks
	slots chan struct{} // one per unresolved input batch: the in-flight cap

	inFlight sync.WaitGroup
	writes   []chan writeRequest
	points   []*checkpoints // by input

	fatalOnce sync.Once
	fatalErr  error
	failed    atomic.Bool // a fatal error happened: state must not be committed
	stopRead  context.CancelFunc

	// intake is held (shared) while a read batch is handed to its task, and
	// exclusively by a stateful commit, which then waits for every batch in
	// flight: the state it commits is exactly that of the positions it
	// commits.
	intake    sync.RWMutex
	commitNow chan struct{}

	eos        *exactlyOnce // nil unless exactly-once
	sinceBegin atomic.Int64 // records read in the open transaction

	read, written atomic.Int64
}

type writeRequest struct {
	records []*Record
	ack     *batchAck
}

// batchAck resolves once every output a batch's records were routed to has
// written them. Only then may the batch's position be committed.
type batchAck struct {
	r       *runner
	pending atomic.Int32
	failed  atomic.Bool
	entry   *checkpointEntry // nil for records released at the end of input
}

func (a *batchAck) done(err error) {
	if err != nil {
		a.failed.Store(true)
	}
	if a.pending.Add(-1) != 0 {
		return
	}
	if a.entry != nil && !a.failed.Load() {
		a.entry.resolve()
	}
	a.r.p.metrics.inFlight.Dec()
	<-a.r.slots
	a.r.inFlight.Done()
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
	p := r.p
	r.commitNow = make(chan struct{}, 1)
	// The checkpoint table exists before anything that reads it starts.
	r.points = make([]*checkpoints, len(p.inputs))
	for i := range p.inputs {
		r.points[i] = &checkpoints{parts: map[string]*partitionCheckpoints{}}
	}
	if p.Settings.ProcessingGuarantee == ExactlyOnce {
		// The session is the input's: closing the input closes it.
		defer func() {
			if r.eos == nil || r.eos.inputClosed {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = p.inputs[0].input.Close(ctx)
		}()
		if err := r.openTransactions(ctx); err != nil {
			return r.startFailed(ctx, err)
		}
	}
	defer r.recordReached()
	if err := r.resumeCarried(); err != nil {
		return err
	}
	if p.state.stateful() {
		if err := r.openState(); err != nil {
			return err
		}
		defer func() {
			if err := p.state.db.Close(); err != nil {
				p.log.Warn("closing state", "error", err)
			}
		}()
		if r.eos != nil {
			if err := r.restoreState(ctx); err != nil {
				return r.startFailed(ctx, err)
			}
		}
	}
	// Sinks start first, sources last, so nothing read waits for a sink.
	started, err := r.start(ctx)
	if err != nil {
		r.closeAll(started)
		return r.startFailed(ctx, err)
	}
	if r.eos != nil {
		if err := r.eos.tx.Begin(); err != nil {
			r.closeAll(started)
			return fmt.Errorf("beginning a transaction: %w", err)
		}
	}

	// Writes outlive a stop request: they get the shutdown timeout to finish.
	writeCtx, abortWrites := context.WithCancel(context.WithoutCancel(ctx))
	defer abortWrites()
	var writers sync.WaitGroup
	r.writes = make([]chan writeRequest, len(p.outputs))
	for i, out := range p.outputs {
		r.writes[i] = make(chan writeRequest, 4)
		writers.Add(1)
		go func() {
			defer writers.Done()
			r.writeLoop(writeCtx, out, r.writes[i])
		}()
	}

	readCtx, stopRead := context.WithCancel(ctx)
	r.stopRead = stopRead
	defer stopRead()

	commitCtx, stopCommits := context.WithCancel(context.WithoutCancel(ctx))
	commitsDone := make(chan struct{})
	go func() {
		defer close(commitsDone)
		r.commitLoop(commitCtx)
	}()

	var readers, tasks sync.WaitGroup
	var ended atomic.Int32 // inputs that reached their end
	for i, in := range p.inputs {
		readers.Add(1)
		go func() {
			defer readers.Done()
			if r.eos != nil {
				r.readAllLoop(readCtx, in, r.points[i], &tasks)
				return
			}
			if r.readLoop(readCtx, in, r.points[i], &tasks) {
				ended.Add(1)
			}
		}()
	}
	if r.hooks.Started != nil {
		r.hooks.Started()
	}
	readers.Wait()
	if r.hooks.Draining != nil {
		r.hooks.Draining()
	}

	// Every input has stopped reading. After a stop request or a failure,
	// what is read must be written within the shutdown timeout; inputs that
	// simply ended take the time their last work (the end-of-input flush)
	// needs.
	drained := make(chan struct{})
	var timers sync.WaitGroup
	timers.Add(1)
	go func() {
		defer timers.Done()
		select {
		case <-readCtx.Done():
		case <-drained:
			return
		}
		select {
		case <-time.After(p.Settings.ShutdownTimeout):
			// Abandoned writes leave state that no committed position
			// accounts for: no state may be committed after this.
			r.failed.Store(true)
			abortWrites()
		case <-drained:
		}
	}()
	tasks.Wait()
	if int(ended.Load()) == len(p.inputs) && !r.failed.Load() {
		r.flushAtEnd(writeCtx)
	}
	r.inFlight.Wait()
	timedOut := writeCtx.Err() != nil
	for _, ch := range r.writes {
		close(ch)
	}
	writers.Wait()
	close(drained)
	timers.Wait()

	stopCommits()
	<-commitsDone
	finalCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var commitErr error
	switch {
	case r.eos == nil:
		commitErr = r.commitAll(finalCtx)
	case r.failed.Load():
		r.abortTransaction()
	default:
		commitErr = r.commitTransaction(finalCtx, true)
	}
	closeErr := r.closeAll(started)
	if r.eos != nil {
		r.eos.inputClosed = true
	}

	p.log.Info("pipeline stopped", "read", r.read.Load(), "written", r.written.Load())
	switch {
	case r.fatalErr != nil:
		return r.fatalErr
	case timedOut:
		return fmt.Errorf("drain did not finish within shutdown_timeout (%s): records not yet written were abandoned and their positions not committed", p.Settings.ShutdownTimeout)
	case commitErr != nil:
		return commitErr
	}
	return closeErr
}

// resumeCarried resumes inputs from positions a replaced pipeline reached
// (ContinueFrom).
func (r *runner) resumeCarried() error {
	for i, in := range r.p.inputs {
		points, ok := r.p.carried[in.path]
		if !ok {
			continue
		}
		if resumer, ok := in.input.(Resumer); ok {
			if err := r.resume(i, resumer, points, "continuing where the replaced pipeline stopped"); err != nil {
				return err
			}
		}
	}
	return nil
}

// resume starts input i at points.
func (r *runner) resume(i int, resumer Resumer, points []Checkpoint, why string) error {
	in := r.p.inputs[i]
	if err := resumer.Resume(points); err != nil {
		return fmt.Errorf("%s: resume: %w", in.path, err)
	}
	// A partition with nothing new to read keeps its position in the next
	// commit.
	r.points[i].seed(points)
	r.p.log.Info(why, "input", in.path, "positions", points)
	return nil
}

// recordReached keeps the positions the inputs reached, for a pipeline
// that continues from this one.
func (r *runner) recordReached() {
	r.p.reached = map[string]inputPositions{}
	for i, in := range r.p.inputs {
		r.p.reached[in.path] = inputPositions{definition: in.definition, points: r.points[i].all()}
	}
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

type startedSet struct {
	outputs, inputs int
	chain           bool
}

func (r *runner) start(ctx context.Context) (startedSet, error) {
	var s startedSet
	p := r.p
	for _, out := range p.outputs {
		if st, ok := out.output.(Starter); ok {
			if err := st.Start(ctx); err != nil {
				return s, fmt.Errorf("%s: start: %w", out.path, err)
			}
		}
		s.outputs++
	}
	if err := p.chain.Start(ctx); err != nil {
		return s, err
	}
	s.chain = true
	for _, in := range p.inputs {
		if st, ok := in.input.(Starter); ok {
			if err := st.Start(ctx); err != nil {
				return s, fmt.Errorf("%s: start: %w", in.path, err)
			}
		}
		s.inputs++
	}
	return s, nil
}

// closeAll closes what was started, after the final commit (a consumer group
// input commits through its connection): inputs, processors, then outputs.
// Inputs stopped reading long before; closing them is the last thing they do.
func (r *runner) closeAll(s startedSet) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []error
	for _, in := range r.p.inputs[:s.inputs] {
		if err := in.input.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: close: %w", in.path, err))
		}
	}
	if s.chain {
		errs = append(errs, r.p.chain.Close(ctx))
	}
	for _, out := range r.p.outputs[:s.outputs] {
		if err := out.output.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: close: %w", out.path, err))
		}
	}
	return errors.Join(errs...)
}

// readLoop reads one input until it ends (true) or is stopped (false), and
// hands each batch to the task of its partition, keeping partition order.
func (r *runner) readLoop(ctx context.Context, in *inputNode, points *checkpoints, tasks *sync.WaitGroup) (ended bool) {
	partitions := map[string]chan taskItem{}
	defer func() {
		for _, ch := range partitions {
			close(ch)
		}
	}()
	for {
		select {
		case r.slots <- struct{}{}:
		case <-ctx.Done():
			return false
		}
		start := time.Now()
		batch, err := in.input.Read(ctx)
		if err != nil || len(batch.Records) == 0 {
			<-r.slots
			switch {
			case errors.Is(err, io.EOF):
				return true
			case ctx.Err() != nil:
				return false
			case err != nil:
				r.fail(fmt.Errorf("%s: %w", in.path, err))
				return false
			}
			continue
		}
		in.metrics.observe(start, 0, len(batch.Records), 0)
		r.intake.RLock()
		r.handOver(ctx, in, points, tasks, partitions, batch)
		r.intake.RUnlock()
	}
}

// handOver gives a read batch, for which a slot is taken, to the task of its
// partition, starting the task on the partition's first batch. The caller
// holds intake.
func (r *runner) handOver(ctx context.Context, in *inputNode, points *checkpoints, tasks *sync.WaitGroup,
	partitions map[string]chan taskItem, batch InputBatch) {
	in.metrics.received.Add(float64(len(batch.Records)))
	r.read.Add(int64(len(batch.Records)))
	r.inFlight.Add(1)
	r.p.metrics.inFlight.Inc()
	ack := &batchAck{r: r, entry: points.track(batch.Partition, batch.Position)}
	ack.pending.Store(1)
	ch, ok := partitions[batch.Partition]
	if !ok {
		ch = make(chan taskItem, 2)
		partitions[batch.Partition] = ch
		tasks.Add(1)
		go func() {
			defer tasks.Done()
			r.runPartition(ctx, ch)
		}()
	}
	ch <- taskItem{input: in.path, partition: batch.Partition, records: batch.Records, ack: ack}
}

type taskItem struct {
	input     string // the input's path, named by failures found at intake
	partition string
	records   []*Record
	ack       *batchAck
}

// process runs the chain over one input batch and sends its records to the
// outputs they were routed to. The batch's ack resolves after the last write.
// runPartition processes one partition's batches in order. Each top-level
// processor runs in a goroutine of its own, and batches move from one to the
// next, so the steps of a chain work on consecutive batches at once while
// every step (and its state shard) still sees one batch at a time, in order.
func (r *runner) runPartition(ctx context.Context, items <-chan taskItem) {
	// A stop request must not cut a batch in half: processing uses a context
	// that is not cancelled by it.
	ctx = context.WithoutCancel(ctx)
	steps := r.p.chain.Len()
	if steps <= 1 {
		for item := range items {
			b := r.newTaskBatch(item)
			r.finish(b, item.ack, r.p.chain.Process(ctx, b))
		}
		return
	}
	type staged struct {
		b   *Batch
		ack *batchAck
		err error
	}
	stages := make([]chan staged, steps)
	for i := range stages {
		stages[i] = make(chan staged, 1)
	}
	var wg sync.WaitGroup
	for i := range steps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := i == steps-1
			if !last {
				defer close(stages[i+1])
			}
			for sb := range stages[i] {
				if sb.err == nil {
					sb.err = r.p.chain.processStep(ctx, i, sb.b)
				}
				if last {
					r.finish(sb.b, sb.ack, sb.err)
				} else {
					stages[i+1] <- sb
				}
			}
		}()
	}
	for item := range items {
		stages[0] <- staged{b: r.newTaskBatch(item), ack: item.ack}
	}
	close(stages[0])
	wg.Wait()
}

// newTaskBatch makes the batch the chain runs over. A value that its input's
// codec cannot read fails here, at intake, rather than when (or if) a
// processor first looks at it: a JSON input never passes invalid JSON on.
func (r *runner) newTaskBatch(item taskItem) *Batch {
	b := newBatch(item.records, len(r.p.outputs))
	b.Partition = item.partition
	b.step = item.input
	kept := item.records[:0]
	for i, rec := range item.records {
		rec.seq = int32(i)
		if err := rec.checkDecodable(); err != nil {
			b.Fail(rec, err)
			continue
		}
		kept = append(kept, rec)
	}
	b.Records = kept
	b.step = ""
	return b
}

// finish sends a processed batch to its outputs, or fails the pipeline when
// processing it failed.
func (r *runner) finish(b *Batch, ack *batchAck, err error) {
	if err != nil {
		ack.done(err)
		r.fail(err)
		return
	}
	r.dispatch(b, ack)
	r.commitIfCacheFull()
}

// commitIfCacheFull asks for an early commit when the state write cache is
// past its budget.
func (r *runner) commitIfCacheFull() {
	if r.p.state.db != nil && r.p.state.db.CacheFull() {
		select {
		case r.commitNow <- struct{}{}:
		default:
		}
	}
}

func (r *runner) dispatch(b *Batch, ack *batchAck) {
	p := r.p
	routed := b.outcome.routed
	if len(b.Records) > 0 {
		if p.mainOutput < 0 {
			ack.done(errors.New("records reached the end of the chain with no output"))
			r.fail(fmt.Errorf("%d records reached the end of pipeline.processors, and there is no output", len(b.Records)))
			return
		}
		routed[p.mainOutput] = append(b.Records, routed[p.mainOutput]...)
	}
	if len(b.outcome.failures) > 0 {
		if p.Settings.OnError != OnErrorDeadLetter {
			f := b.outcome.failures[0]
			err := fmt.Errorf("%s: %s: %v", f.Component, f.Record.Describe(), f.Err)
			switch n := len(b.outcome.failures); {
			case n == 2:
				err = fmt.Errorf("%w (and 1 more failed record in the same batch)", err)
			case n > 2:
				err = fmt.Errorf("%w (and %d more failed records in the same batch)", err, n-1)
			}
			ack.done(err)
			r.fail(err)
			return
		}
		for _, f := range b.outcome.failures {
			routed[p.deadLetter] = append(routed[p.deadLetter], deadLetterRecord(f))
		}
	}
	for i, recs := range routed {
		if len(recs) == 0 {
			continue
		}
		ack.pending.Add(1)
		r.writes[i] <- writeRequest{records: recs, ack: ack}
	}
	ack.done(nil)
}

// deadLetterRecord is the failed record as its input read it, with the error,
// the failing component and the record's source in headers.
func deadLetterRecord(f Failure) *Record {
	key, value := f.Record.Original()
	d := &Record{
		Key:       key,
		Headers:   append([]Header(nil), f.Record.Headers...),
		Timestamp: f.Record.Timestamp,
		Source:    f.Record.Source,
		Offset:    f.Record.Offset,
		raw:       value,
		format:    Text,
	}
	if value == nil {
		d.SetValue(f.Record.decoded)
	}
	d.Headers = append(d.Headers,
		Header{Key: "error", Value: []byte(f.Err.Error())},
		Header{Key: "error_component", Value: []byte(f.Component)},
		Header{Key: "error_source", Value: []byte(f.Record.Describe())})
	return d
}

// flushAtEnd releases what processors held back until the end of input, a
// chunk at a time, each written under the in-flight cap. Intake is held
// while a chunk is made and dispatched, and let go between chunks: a state
// commit then waits for every dispatched chunk to be written before it
// commits the state those chunks replaced, and it keeps the write cache from
// growing over a long flush.
func (r *runner) flushAtEnd(ctx context.Context) {
	r.intake.RLock()
	newChunk := func() *Batch { return newBatch(nil, len(r.p.outputs)) }
	err := r.p.chain.Flush(ctx, newChunk, func(chunk *Batch) error {
		r.slots <- struct{}{}
		r.inFlight.Add(1)
		r.p.metrics.inFlight.Inc()
		ack := &batchAck{r: r}
		ack.pending.Store(1)
		r.dispatch(chunk, ack)
		r.intake.RUnlock()
		r.commitIfCacheFull()
		r.intake.RLock()
		return nil
	})
	r.intake.RUnlock()
	if err != nil {
		r.fail(err)
	}
}

func (r *runner) writeLoop(ctx context.Context, out *outputNode, requests <-chan writeRequest) {
	async, _ := out.output.(AsyncOutput)
	for req := range requests {
		if ctx.Err() != nil {
			req.ack.done(ctx.Err())
			continue
		}
		start := time.Now()
		if async != nil {
			// Written in order, acknowledged whenever the sink is done;
			// the output retried what it could.
			async.WriteAsync(ctx, req.records, func(err error) { r.settleWrite(ctx, out, req, start, err, "write failed") })
			continue
		}
		err := r.writeWithRetry(ctx, out, req.records)
		r.settleWrite(ctx, out, req, start, err, fmt.Sprintf("write failed after %d retries", r.p.Settings.MaxRetries))
	}
}

// settleWrite ends one write request: its records are written, or (err) it
// failed for good, as failure says.
func (r *runner) settleWrite(ctx context.Context, out *outputNode, req writeRequest, start time.Time, err error, failure string) {
	if err != nil {
		out.metrics.errors.Add(float64(len(req.records)))
		req.ack.done(err)
		switch {
		case ctx.Err() != nil:
		case r.eos != nil:
			// Inside a transaction a failed write cannot be retried: the
			// transaction aborts and the run starts over from the last
			// commit.
			r.rewind(fmt.Errorf("%s: write failed: %w", out.path, err))
		default:
			r.fail(fmt.Errorf("%s: %s: %w", out.path, failure, err))
		}
		return
	}
	out.metrics.observe(start, len(req.records), len(req.records), 0)
	r.written.Add(int64(len(req.records)))
	req.ack.done(nil)
}

func (r *runner) writeWithRetry(ctx context.Context, out *outputNode, records []*Record) error {
	s := r.p.Settings
	if r.eos != nil {
		s.MaxRetries = 0
	}
	backoff := s.InitialBackoff
	for attempt := 0; ; attempt++ {
		err := out.output.Write(ctx, records)
		if err == nil || attempt >= s.MaxRetries || ctx.Err() != nil {
			return err
		}
		r.p.log.Warn("output write failed; retrying", "output", out.path, "attempt", attempt+1, "backoff", backoff, "error", err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return err
		}
		backoff = min(backoff*2, s.MaxBackoff)
	}
}

// commitLoop commits every commit interval. A failed commit is retried at
// the next one; while commits keep failing (a broker away) it is logged once
// per commitWarnEvery, with how many failed, and once more when they work again.
func (r *runner) commitLoop(ctx context.Context) {
	t := time.NewTicker(r.p.Settings.CommitInterval)
	defer t.Stop()
	failed := 0
	var warned time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.commitNow:
		}
		if r.eos != nil {
			// A transaction that cannot commit ends the run (rewind).
			if r.commitTransaction(ctx, false) != nil {
				return
			}
			continue
		}
		err := r.commitAll(ctx)
		switch {
		case err != nil:
			failed++
			if time.Since(warned) >= commitWarnEvery {
				warned = time.Now()
				r.p.log.Warn("commit failed; will retry", "failed_commits", failed, "error", err)
			}
		case failed > 0:
			r.p.log.Info("commits work again", "failed_commits", failed)
			failed, warned = 0, time.Time{}
		}
	}
}

const commitWarnEvery = 10 * time.Second

// commitAll hands each input the positions below which everything is done.
func (r *runner) commitAll(ctx context.Context) error {
	if r.p.state.db != nil {
		if err := r.commitState(); err != nil {
			return err
		}
	}
	var errs []error
	for i, in := range r.p.inputs {
		c, ok := in.input.(Committer)
		if !ok {
			continue
		}
		points := r.points[i].uncommitted()
		if len(points) == 0 {
			continue
		}
		if err := c.Commit(ctx, points); err != nil {
			errs = append(errs, fmt.Errorf("%s: commit: %w", in.path, err))
			continue
		}
		r.points[i].markCommitted(points)
		r.p.metrics.committed.WithLabelValues(in.label).Inc()
	}
	return errors.Join(errs...)
}

// checkpoints tracks, per partition of one input, the batches in read order
// and the highest position with nothing unresolved before it.
type checkpoints struct {
	mu    sync.Mutex
	parts map[string]*partitionCheckpoints
}

type partitionCheckpoints struct {
	owner     *checkpoints
	name      string
	queue     []*checkpointEntry
	resolved  string
	committed string
}

type checkpointEntry struct {
	part     *partitionCheckpoints
	position string
	done     bool
}

func (c *checkpoints) track(partition, position string) *checkpointEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	pc, ok := c.parts[partition]
	if !ok {
		pc = &partitionCheckpoints{owner: c, name: partition}
		c.parts[partition] = pc
	}
	e := &checkpointEntry{part: pc, position: position}
	pc.queue = append(pc.queue, e)
	return e
}

func (e *checkpointEntry) resolve() {
	pc := e.part
	pc.owner.mu.Lock()
	defer pc.owner.mu.Unlock()
	e.done = true
	n := 0
	for n < len(pc.queue) && pc.queue[n].done {
		pc.resolved = pc.queue[n].position
		n++
	}
	if n > 0 {
		pc.queue = append(pc.queue[:0], pc.queue[n:]...)
	}
}

func (c *checkpoints) uncommitted() []Checkpoint {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Checkpoint
	for _, pc := range c.parts {
		if pc.resolved != pc.committed {
			out = append(out, Checkpoint{Partition: pc.name, Position: pc.resolved})
		}
	}
	sort.Slice(out, func(i, j int) bool { return strings.Compare(out[i].Partition, out[j].Partition) < 0 })
	return out
}

func (c *checkpoints) markCommitted(points []Checkpoint) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cp := range points {
		c.parts[cp.Partition].committed = cp.Position
	}
}

// openState opens the state database and tells each resumable input where
// the last commit left it.
func (r *runner) openState() error {
	st := r.p.state
	if err := st.open(); err != nil {
		return err
	}
	if r.eos != nil {
		if err := r.wipeWithoutCheckpoint(); err != nil {
			return err
		}
	}
	if err := st.reconcileDefinitions(r.p.log); err != nil {
		return err
	}
	if r.eos != nil {
		// The source's committed positions are the truth under
		// exactly-once; state is restored to match them.
		return nil
	}
	for i, in := range r.p.inputs {
		resumer, ok := in.input.(Resumer)
		if !ok {
			continue
		}
		raw, found, err := st.db.Meta(positionsKey(in.path))
		if err != nil {
			return fmt.Errorf("%s: reading committed positions: %w", in.path, err)
		}
		if !found {
			continue
		}
		var points []Checkpoint
		if err := json.Unmarshal(raw, &points); err != nil {
			return fmt.Errorf("%s: committed positions are corrupt: %w", in.path, err)
		}
		if err := r.resume(i, resumer, points, "resuming from committed positions"); err != nil {
			return err
		}
	}
	return nil
}

// commitState stops intake, waits until every batch read so far is written,
// and commits the state and the input positions together.
func (r *runner) commitState() error {
	r.intake.Lock()
	defer r.intake.Unlock()
	r.inFlight.Wait()
	if r.failed.Load() {
		// The state may hold changes of records whose writes failed; the
		// restart re-reads them from the last good commit instead.
		return nil
	}
	if err := r.p.chain.FlushState(); err != nil {
		return fmt.Errorf("flushing state: %w", err)
	}
	meta := map[string][]byte{}
	for i, in := range r.p.inputs {
		points := r.points[i].all()
		if len(points) == 0 {
			continue
		}
		raw, err := json.Marshal(points)
		if err != nil {
			return err
		}
		meta[positionsKey(in.path)] = raw
	}
	if err := r.p.state.db.Commit(meta); err != nil {
		return fmt.Errorf("committing state: %w", err)
	}
	return nil
}

func positionsKey(inputPath string) string { return "positions/" + inputPath }

func (c *checkpoints) seed(points []Checkpoint) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cp := range points {
		c.parts[cp.Partition] = &partitionCheckpoints{owner: c, name: cp.Partition, resolved: cp.Position, committed: cp.Position}
	}
}

// all is every partition's resolved position.
func (c *checkpoints) all() []Checkpoint {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Checkpoint, 0, len(c.parts))
	for _, pc := range c.parts {
		if pc.resolved != "" {
			out = append(out, Checkpoint{Partition: pc.name, Position: pc.resolved})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Partition < out[j].Partition })
	return out
}
