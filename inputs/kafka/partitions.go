package kafka

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/pipelinehq/pipeline/internal/kafkaclient"
)

// PartitionNumber is the number of one of the input's partitions
// (topic/N), by which a join pairs it with partition N of another topic.
func (in *Input) PartitionNumber(partition string) (int32, bool) {
	_, n, err := parsePartition(partition)
	return n, err == nil
}

// PartitionCounts asks the cluster how many partitions each topic of the
// input has.
func (in *Input) PartitionCounts(ctx context.Context) (map[string]int, error) {
	client, err := kafkaclient.Connect(ctx, in.conn)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	details, err := kadm.NewClient(client).ListTopics(ctx, in.topics...)
	if err != nil {
		return nil, err
	}
	counts := make(map[string]int, len(in.topics))
	for _, topic := range in.topics {
		d, ok := details[topic]
		switch {
		case !ok:
			return nil, fmt.Errorf("topic %s: the cluster does not list it", topic)
		case d.Err != nil:
			return nil, fmt.Errorf("topic %s: %w", topic, d.Err)
		}
		counts[topic] = len(d.Partitions)
	}
	return counts, nil
}
