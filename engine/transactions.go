package engine

import (
	"context"
	"fmt"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/statestore"
)

// Exactly-once: the contract between the engine and the components of a
// transactional system (Kafka). The engine opens one session per pipeline
// instance through a component of the system (TransactionOpener), begins
// and ends its transactions, and hands the outputs what they write
// through. Components never begin, end or abort a transaction.
//
// What one transaction holds: the records every output wrote, the state
// changes (to the stores' changelogs), the positions of the inputs read
// through the session (Kafka consumer offsets), and the positions of every
// other input (a file offset, an SQL cursor, a CDC LSN), which the session
// keeps in a compacted positions topic, as Kafka Connect keeps a source
// connector's offsets under exactly-once (KIP-618). At start they are read
// back from there.

// TransactionOpener is a component of a transactional system that can open
// the sessions of its cluster: a Kafka input or output.
type TransactionOpener interface {
	// Cluster names the cluster; every transactional component of a
	// pipeline must be on the same one.
	Cluster() string
	// OpenTransactions opens a session. It is called before Start.
	OpenTransactions(ctx context.Context, opts TransactionOptions) (Transactions, error)
}

// TransactionOptions are what a session is opened with.
type TransactionOptions struct {
	// ID is the transactional id of this instance: two sessions with the
	// same id fence each other.
	ID string
	// Inputs are the inputs that read through the session; ReadAll
	// returns their batches, which name them by index in this list. A
	// session opened by an output is given none.
	Inputs []TransactionalInput
	// PositionsTopic is where the session keeps the positions of the
	// pipeline's other inputs (SavePositions, LoadPositions).
	PositionsTopic string
}

// TransactionalInput is an input that can read through a session of its
// cluster, which then commits its positions with each transaction (a
// consumer group's offsets).
type TransactionalInput interface {
	Input
	TransactionOpener
	// CanShareSession tells, at build time, whether one session can read
	// for this input and the others together (they must agree on the
	// consumer group, say), and why not.
	CanShareSession(others []TransactionalInput) error
}

// TransactionalOutput is an output that can write inside a session of its
// cluster.
type TransactionalOutput interface {
	Output
	TransactionOpener
	// WriteThrough makes the output write through w, which its system's
	// package knows how to use. It is called before Start.
	WriteThrough(w TransactionWriter) error
}

// TransactionWriter is what the outputs of a session write through: a
// handle on the session that can produce records into the open
// transaction, and nothing more.
type TransactionWriter interface {
	Cluster() string
}

// SessionBatch is a batch a session read for one of its inputs.
type SessionBatch struct {
	Input int // index in TransactionOptions.Inputs
	InputBatch
}

// Transactions is a transactional session, driven by the engine only.
type Transactions interface {
	Begin() error
	// End commits (commit true) or aborts the open transaction: every write
	// and changelog record since Begin, the positions saved since, and the
	// positions of every record read since. committed is false when it had
	// to abort instead.
	End(ctx context.Context, commit bool) (committed bool, err error)
	// ReadAll returns everything the session read for its inputs at once,
	// with nothing held back, because ending a transaction commits the
	// position of every record read; for the same reason it returns what
	// it read even when ctx ended meanwhile. It returns promptly (with
	// nothing) when nothing is there to read.
	ReadAll(ctx context.Context) ([]SessionBatch, error)
	// Writer is what the session's outputs write through.
	Writer() TransactionWriter
	// Changelog writes one state change into the open transaction, to the
	// changelog topic of its store. A nil value deletes the key.
	Changelog(ctx context.Context, topic string, c statestore.Change) error
	// Checkpoint is how far the changelogs go after the last committed
	// transaction (or restore), to be kept with the local state.
	Checkpoint() []byte
	// Restore makes sure the changelog topics exist and reads them,
	// committed records only, from the checkpoint (from the start when it is
	// nil) to their end, calling apply for each record. It returns the
	// checkpoint at the end.
	Restore(ctx context.Context, topics []string, checkpoint []byte, apply func(key, value []byte) error) ([]byte, error)
	// SavePositions writes an input's positions into the open transaction,
	// under key, replacing what was saved under it before.
	SavePositions(ctx context.Context, key string, value []byte) error
	// LoadPositions reads back the last committed value of every key
	// saved.
	LoadPositions(ctx context.Context) (map[string][]byte, error)
	// Close closes the session's connections; an open transaction aborts.
	Close()
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
		config.String("transactional_id", "The Kafka transactional id of this instance. Two instances with the same id fence each other: the older one stops. Defaults to <name>-<host name>-<8 hex digits of the absolute state.dir>, the same across restarts and different for instances on one host (no two share a state directory).").
			Example("wordcount-0"),
		config.Int("max_records", "A transaction commits early once it holds this many input records.").Default(100000),
	)
}

// checkExactlyOnce checks that the graph can run in transactions: every
// output transactional and on one cluster, every input either read through
// a session of that cluster or resumable from a position the transaction
// can keep.
func (b *builder) checkExactlyOnce(root *config.Parsed, p *Pipeline) {
	if p.Settings.ProcessingGuarantee != ExactlyOnce {
		return
	}
	errorf := func(format string, args ...any) {
		b.errs = append(b.errs, root.Errorf("processing_guarantee", format, args...))
	}
	cluster, clusterOf := "", ""
	sameCluster := func(path string, o TransactionOpener) {
		switch c := o.Cluster(); {
		case cluster == "":
			cluster, clusterOf = c, path
		case c != cluster:
			errorf("exactly_once needs every Kafka input and output on one cluster: %s is on %s, %s on %s", path, c, clusterOf, cluster)
		}
	}
	for _, out := range p.outputs {
		t, ok := out.output.(TransactionalOutput)
		if !ok {
			errorf("exactly_once needs every output to be Kafka on one cluster, and %s (%s) is not: its records cannot join a Kafka transaction", out.path, out.label)
			continue
		}
		sameCluster(out.path, t)
	}
	var session []TransactionalInput
	for _, in := range p.inputs {
		if t, ok := in.input.(TransactionalInput); ok {
			sameCluster(in.path, t)
			session = append(session, t)
			continue
		}
		if _, ok := in.input.(Resumer); !ok {
			errorf("exactly_once needs every input to resume from a position kept in the transaction, and %s (%s) cannot resume", in.path, in.label)
		}
	}
	if len(session) > 1 {
		if err := session[0].CanShareSession(session[1:]); err != nil {
			errorf("exactly_once reads every Kafka input through one consumer group: %v", err)
		}
	}
}
