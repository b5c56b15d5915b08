package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipelinehq/pipeline/internal/kafkaclient"
)

// An input read as a table (engine.TableInput, a join's table) is no
// consumer group member: every instance reads every partition of its
// topics, from the start, read_committed, as Kafka Streams' global
// consumer does. At Start it takes the topics' end offsets (their last
// stable offsets); CaughtUp turns true once Read has returned every record
// below them. Transaction markers (control records) are fetched too, so
// that the position passes them and reaches an end offset that follows
// one; Read drops them from its batches.

// ReadAsTable makes the input read its topics whole, as a table, instead
// of as a member of a consumer group: consumer_group, start_from,
// read_committed, instance_id and the timeouts of the group no longer
// apply. Called before Start.
func (in *Input) ReadAsTable() error {
	if in.settings.regex {
		return errors.New("a table reads the topics it names: topics_regex cannot be used here")
	}
	in.table = newLoadTracker()
	return nil
}

// CaughtUp reports whether Read has returned every record the topics held
// when the input started (read as a table).
func (in *Input) CaughtUp() bool { return in.table != nil && in.table.loaded.Load() }

// startTable connects a direct consumer of every partition of the topics
// and takes their end offsets.
func (in *Input) startTable(ctx context.Context) error {
	interruptible, interrupt := kafkaclient.Interruptible()
	client, err := kafkaclient.Connect(ctx, in.conn,
		kgo.ConsumeTopics(in.topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.KeepRetryableFetchErrors(),
		interruptible,
	)
	if err != nil {
		interrupt()
		return err
	}
	fail := func(err error) error {
		interrupt()
		client.Close()
		return err
	}
	if err := kafkaclient.EnsureTopics(ctx, client, in.create...); err != nil {
		return fail(err)
	}
	remaining, err := tableEnds(ctx, kadm.NewClient(client), in.topics)
	if err != nil {
		return fail(err)
	}
	in.table.mu.Lock()
	in.table.remaining = remaining
	in.table.dropLocked()
	in.table.mu.Unlock()
	in.client, in.interrupt = client, interrupt
	in.log.Info("reading topics as a table", "topics", in.topics, "partitions_to_load", len(remaining))
	return nil
}

// tableEndsWait bounds how long the end offsets of a table's topics are
// asked for while the answer is an error a retry may mend (a topic just
// created, not yet known to every broker; a leader moving).
const tableEndsWait = 15 * time.Second

// tableEnds lists the partitions of topics that hold records: name → the
// last stable offset, for those whose log starts below it.
func tableEnds(ctx context.Context, adm *kadm.Client, topics []string) (map[string]int64, error) {
	deadline := time.Now().Add(tableEndsWait)
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		ends, err := adm.ListCommittedOffsets(ctx, topics...)
		if err == nil {
			err = ends.Error()
		}
		var starts kadm.ListedOffsets
		if err == nil {
			starts, err = adm.ListStartOffsets(ctx, topics...)
		}
		if err == nil {
			err = starts.Error()
		}
		if err == nil {
			remaining := map[string]int64{}
			ends.Each(func(o kadm.ListedOffset) {
				if s, ok := starts.Lookup(o.Topic, o.Partition); !ok || o.Offset > s.Offset {
					remaining[partitionName(o.Topic, o.Partition)] = o.Offset
				}
			})
			return remaining, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !kerr.IsRetriable(err) || time.Now().After(deadline) {
			if errors.Is(err, kerr.UnknownTopicOrPartition) {
				return nil, fmt.Errorf("listing the end offsets of %v: a topic does not exist (create it, or set create_topic): %w", topics, err)
			}
			return nil, fmt.Errorf("listing the end offsets of %v: %w", topics, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}
