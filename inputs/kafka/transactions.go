package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/internal/kafkaclient"
	"github.com/pipelinehq/pipeline/internal/kafkatxn"
)

// Under exactly-once the input opens the pipeline's transactional session
// and reads through it; the engine ends the transactions.

// pollWait is how long ReadAll waits for records before it returns with
// none, so that the engine can end a transaction while the topics are idle.
const pollWait = 50 * time.Millisecond

// Cluster names the brokers the input reads from.
func (in *Input) Cluster() string { return cluster(in.conn) }

func cluster(conn *kafkaclient.Connection) string {
	brokers := slices.Clone(conn.Brokers)
	slices.Sort(brokers)
	return strings.Join(brokers, ",")
}

// OpenTransactions opens the transactional session the input reads through
// from now on (read_committed), creates the declared topics, and returns it.
func (in *Input) OpenTransactions(ctx context.Context, id string) (engine.Transactions, error) {
	session, err := kafkatxn.Open(ctx, in.conn, id, in.topics, in.opts...)
	if err != nil {
		return nil, err
	}
	if err := kafkaclient.EnsureTopics(ctx, session.Client(), in.create...); err != nil {
		session.Close()
		return nil, err
	}
	in.txn, in.client = session, session.Client()
	return session, nil
}

// ReadAll returns every record one poll of the session brought, as batches
// of at most batch_size records of one partition each, or none after
// pollWait.
func (in *Input) ReadAll(ctx context.Context) ([]engine.InputBatch, error) {
	pollCtx, cancel := context.WithTimeout(ctx, pollWait)
	defer cancel()
	// Records this poll returned are handed on even when ctx is done by
	// now: the session commits the position of every record polled.
	fetches := in.txn.PollRecords(pollCtx, in.batchSize*4)
	if fetches.IsClientClosed() {
		return nil, errors.New("kafka client closed")
	}
	var fatal error
	fetches.EachError(func(topic string, p int32, err error) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || fatal != nil {
			return
		}
		where := "consumer group " + in.group
		if topic != "" {
			where = partitionName(topic, p)
		}
		if fetchErrorIsFatal(err) {
			fatal = fmt.Errorf("%s: %w", where, err)
			return
		}
		in.warnTransient(where, err)
	})
	if fatal != nil {
		return nil, fatal
	}
	var batches []engine.InputBatch
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		name := partitionName(p.Topic, p.Partition)
		for recs := p.Records; len(recs) > 0; {
			n := min(len(recs), in.batchSize)
			batches = append(batches, in.toBatch(name, recs[:n]))
			recs = recs[n:]
		}
	})
	return batches, nil
}
