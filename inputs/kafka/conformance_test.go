package kafka_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/conformance"
	"github.com/pipelinehq/pipeline/engine/enginetest"
	"github.com/pipelinehq/pipeline/inputs/kafka"
)

// TestConformance runs the input suite on kfake, with the json codec (the
// text and bytes codecs differ from it only in how expressions see a
// value). Every source is a topic of three partitions, over which the
// records' keys spread them; every input built is a consumer group of its
// own, so that an input resumed starts from the positions it is handed
// alone.
func TestConformance(t *testing.T) {
	cluster := kfake.MustCluster(kfake.NumBrokers(1))
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	client := mustClient(t, brokers)
	var topics, groups atomic.Int64
	conformance.TestInput(t, conformance.InputHarness{
		Source: func(t *testing.T) conformance.InputSource {
			topic := fmt.Sprintf("conformance-%d", topics.Add(1))
			if _, err := kadm.NewClient(client).CreateTopic(context.Background(), 3, 1, nil, topic); err != nil {
				t.Fatal(err)
			}
			return conformance.InputSource{
				Put: func(t *testing.T, recs []conformance.Record) []conformance.Record {
					krs := make([]*kgo.Record, len(recs))
					for i, r := range recs {
						krs[i] = &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value}
						for _, h := range r.Headers {
							krs[i].Headers = append(krs[i].Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
						}
					}
					if err := client.ProduceSync(context.Background(), krs...).FirstErr(); err != nil {
						t.Fatal(err)
					}
					return nil
				},
				New: func(t *testing.T) engine.Input {
					fields := fmt.Sprintf("{brokers: [%q], topics: [%s], consumer_group: g%d, codec: json, batch_size: 7}",
						brokers[0], topic, groups.Add(1))
					return enginetest.NewInput(t, kafka.Plugin(), "in", fields)
				},
			}
		},
	})
}
