package kafka_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/conformance"
	"github.com/pipelinehq/pipeline/engine/enginetest"
	"github.com/pipelinehq/pipeline/outputs/kafka"
)

// TestConformance runs the output suite on kfake. Every sink is a topic of
// one partition, so that the order of what it holds is the order written.
func TestConformance(t *testing.T) {
	cluster := kfake.MustCluster(kfake.NumBrokers(1))
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	admin, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var topics, unwritable atomic.Int64
	conformance.TestOutput(t, conformance.OutputHarness{
		KeepsKeys: true, KeepsHeaders: true, KeepsTimestamps: true,
		TombstoneValue: nil, // a Kafka tombstone: a record with a null value
		// In turn a value that does not encode and a record larger than
		// batch_max_bytes.
		Unwritable: func() *engine.Record {
			if unwritable.Add(1)%2 == 0 {
				return conformance.UnencodableRecord()
			}
			return engine.NewRecord([]byte(`"`+strings.Repeat("x", 70<<10)+`"`), engine.JSON)
		},
		Sink: func(t *testing.T) conformance.OutputSink {
			topic := fmt.Sprintf("conformance-%d", topics.Add(1))
			if _, err := kadm.NewClient(admin).CreateTopic(context.Background(), 1, 1, nil, topic); err != nil {
				t.Fatal(err)
			}
			return conformance.OutputSink{
				New: func(t *testing.T) engine.Output {
					return enginetest.NewOutput(t, kafka.Plugin(), "out", fmt.Sprintf("{brokers: [%q], topic: %s, batch_max_bytes: 64KiB}", brokers[0], topic))
				},
				ReadBack: func(t *testing.T, n int) []conformance.Record { return readTopic(t, brokers, topic, n) },
			}
		},
	})
}

// readTopic reads a topic from its start until n records came, and then
// for a while more, so that duplicates show.
func readTopic(t *testing.T, brokers []string, topic string, n int) []conformance.Record {
	t.Helper()
	c, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var got []conformance.Record
	deadline := time.Now().Add(20 * time.Second)
	var quiet time.Time
	for {
		if len(got) >= n && quiet.IsZero() {
			quiet = time.Now().Add(200 * time.Millisecond)
		}
		until := deadline
		if !quiet.IsZero() {
			until = quiet
		}
		ctx, cancel := context.WithDeadline(context.Background(), until)
		fs := c.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			rec := conformance.Record{Key: r.Key, Value: r.Value, Timestamp: r.Timestamp.UnixMilli()}
			for _, h := range r.Headers {
				rec.Headers = append(rec.Headers, engine.Header{Key: h.Key, Value: h.Value})
			}
			got = append(got, rec)
		})
		if time.Now().After(until) {
			if len(got) < n {
				t.Fatalf("read %d of %d records within 20s", len(got), n)
			}
			return got
		}
	}
}
