package kafka

import (
	"context"
	"fmt"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/internal/kafkaclient"
	"github.com/pipelinehq/pipeline/internal/kafkatxn"
)

// Under exactly-once the output writes through the pipeline's transactional
// session: its records commit with the input positions or not at all. The
// session is one producer for every output, so linger, batch size,
// compression and max_in_flight of the output do not apply then.

// Cluster names the brokers the output writes to.
func (o *Output) Cluster() string { return kafkatxn.Cluster(o.conn) }

// OpenTransactions opens a session that only writes: for a pipeline whose
// inputs are not Kafka (a file, a database), whose positions the session
// keeps in its positions topic.
func (o *Output) OpenTransactions(ctx context.Context, opts engine.TransactionOptions) (engine.Transactions, error) {
	if len(opts.Inputs) > 0 {
		return nil, fmt.Errorf("a kafka output cannot read inputs; a kafka input opens the session")
	}
	session, err := kafkatxn.Open(ctx, o.conn, kafkatxn.Options{ID: opts.ID, PositionsTopic: opts.PositionsTopic})
	if err != nil {
		return nil, err
	}
	return writingSession{session}, nil
}

// writingSession is a session that reads nothing.
type writingSession struct{ *kafkatxn.Session }

func (s writingSession) Writer() engine.TransactionWriter { return s.Session.Writer() }

func (s writingSession) ReadAll(context.Context) ([]engine.SessionBatch, error) { return nil, nil }

// WriteThrough makes the output produce through the session's writer.
func (o *Output) WriteThrough(w engine.TransactionWriter) error {
	writer, ok := w.(*kafkatxn.Writer)
	if !ok {
		return fmt.Errorf("a kafka output writes only through a Kafka transactional session, not %T", w)
	}
	o.txn = writer
	// The session's producer sends batches of its own size.
	o.maxRecordBytes = min(o.maxRecordBytes, kafkaclient.DefaultBatchMaxBytes)
	return nil
}
