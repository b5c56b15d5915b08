package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sync"
	"time"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/statestore"
)

// Exactly-once.
//
// Under processing_guarantee: exactly_once the engine runs the pipeline in
// the transactions of its input's source (Kafka). Every commit interval it
// stops intake, waits until every batch read is written, writes the state
// changes of the interval to the stores' changelogs, and ends the
// transaction: the outputs' records, the changelog records and the input
// positions of everything read commit together, or not at all. Local state
// takes the changes only after the commit, so it never holds uncommitted
// data. A transaction that cannot commit ends the run with a *RewindError;
// RunRewinding then builds the pipeline again, which resumes from the last
// commit: the source rewinds to its committed positions and the state to
// what the changelogs hold up to them.
//
// Components do not know when transactions begin or end. A transactional
// input opens the session (its source's transactional client) and reads
// through it; each output is handed the session to write through.

// TransactionalInput is an input whose source can commit a pipeline's
// outputs, state changelogs and its own positions in one transaction.
type TransactionalInput interface {
	Input
	// Cluster names the cluster the input reads from; every output must
	// write to the same one.
	Cluster() string
	// OpenTransactions switches the input to reading committed records
	// through a transactional session with the given id, and returns it.
	// It is called before Start.
	OpenTransactions(ctx context.Context, id string) (Transactions, error)
	// ReadAll is Read under exactly-once: it returns everything it read at
	// once, with nothing held back, because ending a transaction commits the
	// position of every record read; for the same reason it returns what it
	// read even when ctx ended meanwhile. It returns promptly (with nothing)
	// when nothing is there to read.
	ReadAll(ctx context.Context) ([]InputBatch, error)
}

// TransactionalOutput is an output that can write inside a transactional
// session of its cluster.
type TransactionalOutput interface {
	Output
	Cluster() string
	// WriteThrough makes the output write through the session. It is called
	// before Start.
	WriteThrough(t Transactions) error
}

// Transactions is a transactional session: a source's client that writes
// and commits input positions in transactions.
type Transactions interface {
	Begin() error
	// End commits (commit true) or aborts the open transaction: every write
	// and changelog record since Begin, and the position of every record
	// read since. committed is false when it had to abort instead.
	End(ctx context.Context, commit bool) (committed bool, err error)
	// Changelog writes one state change into the open transaction, to the
	// changelog topic of its store, in the partition of the input partition
	// the change belongs to. A nil value deletes the key.
	Changelog(ctx context.Context, topic string, c statestore.Change) error
	// Checkpoint is how far the changelogs go after the last committed
	// transaction (or restore), to be kept with the local state.
	Checkpoint() []byte
	// Restore makes sure the changelog topics exist and reads them,
	// committed records only, from the checkpoint (from the start when it is
	// nil) to their end, calling apply for each record. It returns the
	// checkpoint at the end.
	Restore(ctx context.Context, topics []string, checkpoint []byte, apply func(key, value []byte) error) ([]byte, error)
}

// RewindError ends a run whose transaction could not commit: nothing of it
// is visible, and a run built anew resumes from the last commit.
type RewindError struct {
	Cause error
	// Commits is how many transactions this run committed before.
	Commits int
}

func (e *RewindError) Error() string {
	return fmt.Sprintf("transaction aborted, rewinding to the last commit: %v", e.Cause)
}

func (e *RewindError) Unwrap() error { return e.Cause }

// exactlyOnceFields are the root config's exactly-once settings.
func exactlyOnceFields() config.Field {
	return config.Object("exactly_once", "Settings of processing_guarantee: exactly_once.",
		config.String("transactional_id", "The Kafka transactional id of this instance. Two instances with the same id fence each other: the older one stops. Defaults to <name>-<host name>.").
			Example("wordcount-0"),
		config.Int("max_records", "A transaction commits early once it holds this many input records.").Default(100000),
	)
}

// transactionTimeout bounds ending one transaction (flushing its writes,
// committing offsets, the end marker).
const transactionTimeout = 30 * time.Second

// defaultExactlyOnceCommitInterval is how often transactions commit when
// commit_interval is not given (Kafka Streams' default under exactly-once).
const defaultExactlyOnceCommitInterval = 100 * time.Millisecond

// checkExactlyOnce checks that the graph can run in transactions: one
// input and every output transactional, all on one cluster.
func (b *builder) checkExactlyOnce(root *config.Parsed, p *Pipeline) {
	if p.Settings.ProcessingGuarantee != ExactlyOnce {
		return
	}
	notKafka := func(path, label string) {
		b.errs = append(b.errs, root.Errorf("processing_guarantee",
			"exactly_once needs every input and output to be Kafka on one cluster, and %s (%s) is not: its records cannot join a Kafka transaction", path, label))
	}
	cluster, clusterOf := "", ""
	sameCluster := func(path, c string) {
		if cluster == "" {
			cluster, clusterOf = c, path
			return
		}
		if c != cluster {
			b.errs = append(b.errs, root.Errorf("processing_guarantee",
				"exactly_once needs every input and output on one Kafka cluster: %s writes to %s, %s to %s", path, c, clusterOf, cluster))
		}
	}
	if len(p.inputs) > 1 {
		b.errs = append(b.errs, root.Errorf("processing_guarantee", "exactly_once takes one input (one consumer group); this pipeline has %d", len(p.inputs)))
	}
	for _, in := range p.inputs {
		if t, ok := in.input.(TransactionalInput); ok {
			sameCluster(in.path, t.Cluster())
		} else {
			notKafka(in.path, in.label)
		}
	}
	for _, out := range p.outputs {
		if t, ok := out.output.(TransactionalOutput); ok {
			sameCluster(out.path, t.Cluster())
		} else {
			notKafka(out.path, out.label)
		}
	}
}

// exactlyOnce is the transactional side of a run.
type exactlyOnce struct {
	tx          Transactions
	input       TransactionalInput
	commits     int
	topics      map[string]string // store → changelog topic
	inputClosed bool              // closeAll closed the input, and with it the session
}

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

func transactionalID(s Settings) string {
	if s.TransactionalID != "" {
		return s.TransactionalID
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "0"
	}
	return s.Name + "-" + host
}

// openTransactions opens the session and hands it to the outputs. It runs
// before anything starts.
func (r *runner) openTransactions(ctx context.Context) error {
	p := r.p
	in := p.inputs[0]
	tin := in.input.(TransactionalInput)
	tx, err := tin.OpenTransactions(ctx, transactionalID(p.Settings))
	if err != nil {
		return fmt.Errorf("%s: opening transactions: %w", in.path, err)
	}
	r.eos = &exactlyOnce{tx: tx, input: tin, topics: map[string]string{}}
	for _, out := range p.outputs {
		if err := out.output.(TransactionalOutput).WriteThrough(tx); err != nil {
			return fmt.Errorf("%s: %w", out.path, err)
		}
	}
	for store, info := range p.state.stores {
		r.eos.topics[store] = changelogTopic(p.Settings.Name, store, info.definition)
	}
	return nil
}

// wipeWithoutCheckpoint empties local state that has no changelog
// checkpoint (a new directory, or one written without exactly-once): it is
// rebuilt from the start of the changelogs.
func (r *runner) wipeWithoutCheckpoint() error {
	db := r.p.state.db
	if _, found, err := db.Meta(changelogCheckpointKey); err != nil || found {
		return err
	}
	if err := db.Wipe(); err != nil {
		return fmt.Errorf("wiping state without a changelog checkpoint: %w", err)
	}
	return nil
}

// restoreState brings local state up to the end of the changelogs: from the
// checkpoint kept with it, or, with none (a new or wiped state directory),
// from an empty store and the start of the changelogs.
func (r *runner) restoreState(ctx context.Context) error {
	db := r.p.state.db
	checkpoint, found, err := db.Meta(changelogCheckpointKey)
	if err != nil {
		return fmt.Errorf("reading the changelog checkpoint: %w", err)
	}
	topics := make([]string, 0, len(r.eos.topics))
	for _, t := range r.eos.topics {
		topics = append(topics, t)
	}
	began := time.Now()
	r.p.metrics.restoring.Set(1)
	defer r.p.metrics.restoring.Set(0)
	restorer := db.NewRestorer()
	progress := time.Now()
	end, err := r.eos.tx.Restore(ctx, topics, checkpoint, func(key, value []byte) error {
		if err := restorer.Apply(key, value); err != nil {
			return err
		}
		r.p.metrics.restored.Inc()
		if time.Since(progress) >= 5*time.Second {
			progress = time.Now()
			r.p.log.Info("restoring state from changelogs", "records", restorer.Applied())
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
	r.p.log.Info("state restored from changelogs", "records", restorer.Applied(), "took", took.Round(time.Millisecond),
		"records_per_second", int64(rate), "from_checkpoint", found)
	return nil
}

// commitTransaction ends the open transaction with a commit and begins the
// next: intake stops, every batch read is written, state changes go to the
// changelogs, and only once the transaction committed does local state take
// them. A transaction that cannot commit fails the run with a *RewindError.
func (r *runner) commitTransaction(ctx context.Context, final bool) error {
	// A stop request must not cut a commit short: that would abort it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), transactionTimeout)
	defer cancel()
	began := time.Now()
	r.intake.Lock()
	defer r.intake.Unlock()
	locked := time.Now()
	r.inFlight.Wait()
	if r.failed.Load() {
		return nil
	}
	// Nothing read, nothing to commit: the transaction stays open (the
	// broker does not know of it until something is written), and an idle
	// pipeline does not pay for empty commits.
	records := r.sinceBegin.Load()
	if records == 0 && !final {
		return nil
	}
	drained := time.Now()
	defer func() {
		r.p.log.Debug("transaction ended", "records", records, "intake_wait", locked.Sub(began),
			"drain", drained.Sub(locked), "end", time.Since(drained))
	}()
	r.sinceBegin.Store(0)
	eos := r.eos
	db := r.p.state.db
	if db != nil {
		if err := r.p.chain.FlushState(); err != nil {
			return r.rewind(fmt.Errorf("flushing state: %w", err))
		}
		err := db.EachPending(func(c statestore.Change) error {
			return eos.tx.Changelog(ctx, eos.topics[c.Store], c)
		})
		if err != nil {
			return r.rewind(fmt.Errorf("writing changelogs: %w", err))
		}
	}
	committed, err := eos.tx.End(ctx, true)
	switch {
	case err != nil:
		return r.rewind(fmt.Errorf("committing the transaction: %w", err))
	case !committed:
		return r.rewind(errors.New("the transaction had to abort (a rebalance, or a failed write or offset commit)"))
	}
	eos.commits++
	r.p.metrics.transactions.WithLabelValues("committed").Inc()
	if db != nil {
		if err := db.Commit(map[string][]byte{changelogCheckpointKey: eos.tx.Checkpoint()}); err != nil {
			// The changelogs have what local state missed: the next run
			// restores it from them.
			return r.rewind(fmt.Errorf("writing committed state locally: %w", err))
		}
	}
	if final {
		return nil
	}
	if err := eos.tx.Begin(); err != nil {
		return r.rewind(fmt.Errorf("beginning a transaction: %w", err))
	}
	return nil
}

// fencedError is what a session returns once another instance with the
// same transactional id has taken over.
type fencedError interface{ Fenced() bool }

// rewind fails the run so that it is built again from the last commit;
// unless this instance was fenced, which no rebuild can mend: it stops.
func (r *runner) rewind(cause error) error {
	r.p.metrics.transactions.WithLabelValues("aborted").Inc()
	var err error = &RewindError{Cause: cause, Commits: r.eos.commits}
	if f := fencedError(nil); errors.As(cause, &f) && f.Fenced() {
		err = fmt.Errorf("stopping: another instance with transactional id %q took over this pipeline's work; "+
			"give each instance its own exactly_once.transactional_id: %w", transactionalID(r.p.Settings), cause)
	}
	r.fail(err)
	return err
}

// abortTransaction aborts what a failed run left open, so that the session
// closes cleanly; nothing of it was committed either way.
func (r *runner) abortTransaction() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := r.eos.tx.End(ctx, false); err != nil {
		r.p.log.Warn("aborting the open transaction", "error", err)
	}
}

// readAllLoop is readLoop under exactly-once: what the input read is handed
// on while intake is held, so that a transaction never ends between a read
// and its hand-over.
func (r *runner) readAllLoop(ctx context.Context, in *inputNode, points *checkpoints, tasks *sync.WaitGroup) {
	partitions := map[string]chan taskItem{}
	defer func() {
		for _, ch := range partitions {
			close(ch)
		}
	}()
	tin := in.input.(TransactionalInput)
	for ctx.Err() == nil {
		start := time.Now()
		r.intake.RLock()
		batches, err := tin.ReadAll(ctx)
		if err != nil {
			r.intake.RUnlock()
			if ctx.Err() == nil {
				r.fail(fmt.Errorf("%s: %w", in.path, err))
			}
			return
		}
		n := 0
		for _, batch := range batches {
			if len(batch.Records) == 0 {
				continue
			}
			n += len(batch.Records)
			// Not bounded by ctx: a batch read must be handed on, or the
			// transaction would commit its position unprocessed. Slots
			// free up as writes finish, whatever ctx does.
			r.slots <- struct{}{}
			r.handOver(ctx, in, points, tasks, partitions, batch)
		}
		r.intake.RUnlock()
		if n > 0 {
			in.metrics.observe(start, 0, n, 0)
			if r.sinceBegin.Add(int64(n)) >= int64(r.p.Settings.MaxTransactionRecords) {
				select {
				case r.commitNow <- struct{}{}:
				default:
				}
			}
		}
	}
}
