package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/pipelinehq/pipeline/internal/kafkaclient"
)

// PartitionNumber is the number of one of the input's partitions
// (topic/N), by which a join pairs it with partition N of another topic.
func (in *Input) PartitionNumber(partition string) (int32, bool) {
	_, n, err := parsePartition(partition)
	return n, err == nil
}

// PartitionCounts asks the cluster how many partitions each topic of the
// input has. A topic just created (create_topic) may take a moment to
// appear in every broker's metadata: an unknown topic is asked about again
// for up to topicVisibleWithin.
func (in *Input) PartitionCounts(ctx context.Context) (map[string]int, error) {
	client, err := kafkaclient.Connect(ctx, in.conn)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	admin := kadm.NewClient(client)
	deadline := time.Now().Add(topicVisibleWithin)
	for {
		counts, err := partitionCounts(ctx, admin, in.topics)
		if err == nil || !errors.Is(err, kerr.UnknownTopicOrPartition) || time.Now().After(deadline) {
			return counts, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// topicVisibleWithin bounds the wait for a topic to appear in metadata.
const topicVisibleWithin = 15 * time.Second

func partitionCounts(ctx context.Context, admin *kadm.Client, topics []string) (map[string]int, error) {
	details, err := admin.ListTopics(ctx, topics...)
	if err != nil {
		return nil, err
	}
	counts := make(map[string]int, len(topics))
	for _, topic := range topics {
		d, ok := details[topic]
		switch {
		case !ok:
			return nil, fmt.Errorf("topic %s: %w", topic, kerr.UnknownTopicOrPartition)
		case d.Err != nil:
			return nil, fmt.Errorf("topic %s: %w", topic, d.Err)
		}
		counts[topic] = len(d.Partitions)
	}
	return counts, nil
}
