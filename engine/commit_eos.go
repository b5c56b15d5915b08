package engine

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/pipelinehq/pipeline/statestore"
)

// exactlyOnce runs the pipeline in the transactions of one session. Every
// commit interval it closes intake, waits until every batch read is
// written, writes the state changes of the interval to the changelogs and
// the positions of inputs outside the session to the positions topic, and
// ends the transaction: all of it commits together, or none of it. Local
// state takes the changes only after the commit, so it never holds
// uncommitted data. A transaction that cannot commit ends the run with a
// *RewindError; the run built anew resumes from the last commit.
type exactlyOnce struct {
	r  *runner
	tx Transactions
	// session are the inputs read through the session, by index in
	// p.inputs; the others keep their positions in the positions topic.
	session     []int
	inSession   map[int]bool
	topics      map[string]string // store → changelog topic
	commits     int
	readAtBegin int64 // the run's records read when the open transaction began
}

// transactionTimeout bounds ending one transaction (flushing its writes,
// committing offsets, the end marker).
const transactionTimeout = 30 * time.Second

// defaultExactlyOnceCommitInterval is how often transactions commit when
// commit_interval is not given (Kafka Streams' default under exactly-once).
const defaultExactlyOnceCommitInterval = 100 * time.Millisecond

const changelogCheckpointKey = "changelog"

var topicUnsafe = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// changelogTopic names a store's changelog topic after the pipeline and the
// store (which is named after its component's path), as Kafka Streams does,
// and the first 8 hex digits of the component's definition: a component
// whose definition changed starts from an empty changelog, as its local
// state starts empty.
func changelogTopic(pipeline, store, definition string) string {
	return topicUnsafe.ReplaceAllString(pipeline+"-"+store+"-"+definition[:min(8, len(definition))], "-") + "-changelog"
}

// positionsTopic names the topic that keeps the positions of a pipeline's
// inputs outside the session.
func positionsTopic(pipeline string) string {
	return topicUnsafe.ReplaceAllString(pipeline, "-") + "-positions"
}

// transactionalID is the configured id, else the instance's name.
func transactionalID(p *Pipeline) string {
	if p.Settings.TransactionalID != "" {
		return p.Settings.TransactionalID
	}
	return instanceName(p.Settings.Name, p.state.dir)
}

// open opens the session through its opener (the first Kafka input, or the
// first output when no input is Kafka), hands it to the outputs, restores
// state and resumes the inputs outside the session.
func (e *exactlyOnce) open(ctx context.Context) error {
	p := e.r.p
	opener, opts := e.sessionPlan()
	tx, err := opener.OpenTransactions(ctx, opts)
	if err != nil {
		return fmt.Errorf("opening transactions: %w", err)
	}
	e.tx = tx
	e.r.life.onClose("exactly_once session", func(context.Context) error { tx.Close(); return nil })
	for _, out := range p.outputs {
		if err := out.output.(TransactionalOutput).WriteThrough(tx.Writer()); err != nil {
			return fmt.Errorf("%s: %w", out.path, err)
		}
	}
	if p.state.stateful() {
		if err := e.openState(ctx); err != nil {
			return err
		}
	}
	return e.resumeOutsideSession(ctx)
}

// sessionPlan chooses the session's opener and what it reads.
func (e *exactlyOnce) sessionPlan() (TransactionOpener, TransactionOptions) {
	p := e.r.p
	opts := TransactionOptions{ID: transactionalID(p), PositionsTopic: positionsTopic(p.Settings.Name)}
	e.inSession = map[int]bool{}
	for i, in := range p.inputs {
		if t, ok := in.input.(TransactionalInput); ok {
			e.session = append(e.session, i)
			e.inSession[i] = true
			opts.Inputs = append(opts.Inputs, t)
		}
	}
	if len(opts.Inputs) > 0 {
		return opts.Inputs[0], opts
	}
	return p.outputs[0].output.(TransactionalOutput), opts
}

func (e *exactlyOnce) openState(ctx context.Context) error {
	p := e.r.p
	e.topics = map[string]string{}
	for store, info := range p.state.stores {
		if !info.sourced { // rebuilt by its component from its own source
			e.topics[store] = changelogTopic(p.Settings.Name, store, info.definition)
		}
	}
	if err := p.state.open(); err != nil {
		return err
	}
	e.r.life.onClose("state", func(context.Context) error { return p.state.close() })
	// State without a changelog checkpoint (a new directory, or one
	// written without exactly-once) is rebuilt from the start of the
	// changelogs.
	if err := p.state.wipeUnless(changelogCheckpointKey); err != nil {
		return err
	}
	if err := p.state.reconcile(p.log); err != nil {
		return err
	}
	return e.restoreState(ctx)
}

// resumeOutsideSession resumes the inputs outside the session from the
// positions the last committed transaction saved.
func (e *exactlyOnce) resumeOutsideSession(ctx context.Context) error {
	if len(e.session) == len(e.r.p.inputs) {
		return nil
	}
	saved, err := e.tx.LoadPositions(ctx)
	if err != nil {
		return fmt.Errorf("reading the positions committed in transactions: %w", err)
	}
	for i, in := range e.r.p.inputs {
		raw, found := saved[in.path]
		if e.inSession[i] || !found {
			continue
		}
		points, err := decodePositions(in.path, raw)
		if err != nil {
			return err
		}
		if err := e.r.resume(i, points, "resuming from positions committed in the last transaction"); err != nil {
			return err
		}
	}
	return nil
}

// restoreState brings local state up to the end of the changelogs: from the
// checkpoint kept with it, or, with none (a new or wiped state directory),
// from an empty store and the start of the changelogs.
func (e *exactlyOnce) restoreState(ctx context.Context) error {
	p := e.r.p
	db := p.state.db
	checkpoint, found, err := db.Meta(changelogCheckpointKey)
	if err != nil {
		return fmt.Errorf("reading the changelog checkpoint: %w", err)
	}
	topics := make([]string, 0, len(e.topics))
	for _, t := range e.topics {
		topics = append(topics, t)
	}
	began := time.Now()
	p.metrics.restoring.Set(1)
	defer p.metrics.restoring.Set(0)
	restorer := db.NewRestorer()
	progress := time.Now()
	end, err := e.tx.Restore(ctx, topics, checkpoint, func(key, value []byte) error {
		if err := restorer.Apply(key, value); err != nil {
			return err
		}
		p.metrics.restored.Inc()
		if time.Since(progress) >= 5*time.Second {
			progress = time.Now()
			p.log.Info("restoring state from changelogs", "records", restorer.Applied())
		}
		return nil
	})
	if err != nil {
		restorer.Cancel()
		return fmt.Errorf("restoring state from changelogs %v: %w", topics, err)
	}
	if err := restorer.Finish(map[string][]byte{changelogCheckpointKey: end}); err != nil {
		return fmt.Errorf("writing restored state: %w", err)
	}
	took := time.Since(began)
	rate := float64(restorer.Applied()) / max(took.Seconds(), 1e-9)
	p.log.Info("state restored from changelogs", "records", restorer.Applied(), "took", took.Round(time.Millisecond),
		"records_per_second", int64(rate), "from_checkpoint", found)
	return nil
}

func (e *exactlyOnce) readers() []reader {
	var rs []reader
	if len(e.session) > 0 {
		rs = append(rs, sessionReader{e: e})
	}
	for i := range e.r.p.inputs {
		if !e.inSession[i] {
			rs = append(rs, inputReader{r: e.r, index: i})
		}
	}
	return rs
}

func (e *exactlyOnce) begin() error {
	if err := e.tx.Begin(); err != nil {
		return fmt.Errorf("beginning a transaction: %w", err)
	}
	return nil
}

// read commits early once the open transaction holds max_records.
func (e *exactlyOnce) read(int) {
	if e.r.read.Load()-e.readAtBegin >= int64(e.r.p.Settings.MaxTransactionRecords) {
		e.r.requestCommit()
	}
}

func (e *exactlyOnce) commit(ctx context.Context) error { return e.commitTransaction(ctx, false) }

func (e *exactlyOnce) end(ctx context.Context, failed bool) error {
	if failed {
		e.abort()
		return nil
	}
	return e.commitTransaction(ctx, true)
}

// commitTransaction ends the open transaction with a commit and begins the
// next (unless final). A transaction that cannot commit fails the run with
// a *RewindError.
func (e *exactlyOnce) commitTransaction(ctx context.Context, final bool) error {
	// A stop request must not cut a commit short: that would abort it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), transactionTimeout)
	defer cancel()
	began := time.Now()
	return e.r.atBarrier(ctx, func() error {
		// Nothing read, nothing to commit: the transaction stays open (the
		// broker does not know of it until something is written), and an
		// idle pipeline does not pay for empty commits.
		records := e.r.read.Load() - e.readAtBegin
		if records == 0 && !final {
			return nil
		}
		drained := time.Now()
		defer func() {
			e.r.p.log.Debug("transaction ended", "records", records, "drain", drained.Sub(began), "end", time.Since(drained))
		}()
		e.readAtBegin = e.r.read.Load()
		return e.commitLocked(ctx, final)
	})
}

// commitLocked ends the transaction while intake is closed and nothing is in
// flight.
func (e *exactlyOnce) commitLocked(ctx context.Context, final bool) error {
	saved, err := e.writeTransaction(ctx)
	if err != nil {
		return e.rewind(err)
	}
	committed, err := e.tx.End(ctx, true)
	switch {
	case err != nil:
		return e.rewind(fmt.Errorf("committing the transaction: %w", err))
	case !committed:
		return e.rewind(errors.New("the transaction had to abort (a rebalance, or a failed write or offset commit)"))
	}
	e.commits++
	e.r.p.metrics.transactions.WithLabelValues("committed").Inc()
	for i, points := range saved {
		e.r.positions[i].markCommitted(points)
	}
	if db := e.r.p.state.db; db != nil {
		if err := db.Commit(map[string][]byte{changelogCheckpointKey: e.tx.Checkpoint()}); err != nil {
			// The changelogs have what local state missed: the next run
			// restores it from them.
			return e.rewind(fmt.Errorf("writing committed state locally: %w", err))
		}
	}
	// Sources that keep positions of their own (a replication slot's
	// confirmed LSN) learn them once they are safe in Kafka.
	if err := e.r.commitAtSources(ctx, func(i int) bool { return !e.inSession[i] }); err != nil {
		e.r.p.log.Warn("committing positions at sources after the transaction", "error", err)
	}
	if final {
		return nil
	}
	if err := e.tx.Begin(); err != nil {
		return e.rewind(fmt.Errorf("beginning a transaction: %w", err))
	}
	return nil
}

// writeTransaction writes the state changes and the changed positions of
// inputs outside the session into the open transaction. It returns the
// positions saved, by input index.
func (e *exactlyOnce) writeTransaction(ctx context.Context) (map[int][]Checkpoint, error) {
	p := e.r.p
	if db := p.state.db; db != nil {
		if err := p.chain.FlushState(); err != nil {
			return nil, fmt.Errorf("flushing state: %w", err)
		}
		err := db.EachPending(func(c statestore.Change) error {
			topic, ok := e.topics[c.Store]
			if !ok { // a sourced store: no changelog
				return nil
			}
			return e.tx.Changelog(ctx, topic, c)
		})
		if err != nil {
			return nil, fmt.Errorf("writing changelogs: %w", err)
		}
	}
	saved := map[int][]Checkpoint{}
	for i, in := range p.inputs {
		if e.inSession[i] || len(e.r.positions[i].uncommitted()) == 0 {
			continue
		}
		points := e.r.positions[i].resolved()
		raw, err := encodePositions(points)
		if err != nil {
			return nil, err
		}
		if err := e.tx.SavePositions(ctx, in.path, raw); err != nil {
			return nil, fmt.Errorf("%s: saving positions: %w", in.path, err)
		}
		saved[i] = points
	}
	return saved, nil
}

// fencedError is what a session returns once another instance with the
// same transactional id has taken over.
type fencedError interface{ Fenced() bool }

// rewind fails the run so that it is built again from the last commit;
// unless this instance was fenced, which no rebuild can mend: it stops.
func (e *exactlyOnce) rewind(cause error) error {
	r := e.r
	r.p.metrics.transactions.WithLabelValues("aborted").Inc()
	var err error = &RewindError{Cause: cause, Commits: e.commits}
	if f := fencedError(nil); errors.As(cause, &f) && f.Fenced() {
		err = fmt.Errorf("stopping: another instance with transactional id %q took over this pipeline's work; "+
			"give each instance its own exactly_once.transactional_id: %w", transactionalID(r.p), cause)
	}
	r.fail(err)
	return nil
}

// abort aborts what a failed run left open, so that the session closes
// cleanly; nothing of it was committed either way.
func (e *exactlyOnce) abort() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.tx.End(ctx, false); err != nil {
		e.r.p.log.Warn("aborting the open transaction", "error", err)
	}
}

// writeFailed: inside a transaction a failed write cannot be retried; the
// transaction aborts and the run starts over from the last commit.
func (e *exactlyOnce) writeFailed(err error) { e.rewind(err) }

func (e *exactlyOnce) writeRetries() int { return 0 }

// sessionReader reads every input of the session at once. What it read is
// handed on inside the intake gate, so that a transaction never ends
// between a read and its hand-over.
type sessionReader struct{ e *exactlyOnce }

func (sr sessionReader) read(ctx context.Context) bool {
	e := sr.e
	r := e.r
	tasks := r.newTaskSet()
	defer tasks.close()
	for ctx.Err() == nil {
		if r.intake.enter(ctx) != nil {
			return false
		}
		start := time.Now()
		batches, err := e.tx.ReadAll(ctx)
		if err != nil {
			r.intake.leave()
			if ctx.Err() == nil {
				r.fail(fmt.Errorf("exactly_once session: %w", err))
			}
			return false
		}
		ok := sr.handOver(tasks, batches, start)
		r.intake.leave()
		if !ok {
			return false
		}
	}
	return false
}

// handOver hands on every batch read: not bounded by the stop request,
// since the transaction would commit their positions unprocessed. Only an
// abandoned drain (the shutdown timeout) cuts it short, and then nothing
// commits. It reports false when cut short.
func (sr sessionReader) handOver(tasks *taskSet, batches []SessionBatch, start time.Time) bool {
	r := sr.e.r
	for _, sb := range batches {
		if len(sb.Records) == 0 {
			continue
		}
		if r.flight.acquire(r.writeCtx) != nil {
			return false
		}
		input := sr.e.session[sb.Input]
		r.p.inputs[input].metrics.observe(start, 0, len(sb.Records), 0)
		r.handOver(r.writeCtx, tasks, input, sb.InputBatch)
	}
	return true
}
