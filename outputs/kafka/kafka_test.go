package kafka_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/enginetest"
	"github.com/pipelinehq/pipeline/inputs"
	"github.com/pipelinehq/pipeline/outputs"
	"github.com/pipelinehq/pipeline/outputs/kafka"
)

var registers = []func(*engine.Registry){inputs.Register, outputs.Register}

// readAll consumes a topic from the start until n records arrived.
func readAll(t *testing.T, brokers []string, topic string, n int) []*kgo.Record {
	t.Helper()
	c, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var got []*kgo.Record
	for len(got) < n {
		fs := c.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d records: %v", len(got), n, err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, r) })
	}
	return got
}

func TestProducesKeyedRecordsWithHeadersToACreatedTopic(t *testing.T) {
	cluster := kfake.MustCluster(kfake.NumBrokers(1))
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	err := enginetest.Run(t, 30*time.Second, fmt.Sprintf(`
input:
  generate: {value: '{"id": meta.offset, "user": "u" + string(meta.offset %% 7)}', count: 300, batch_size: 50}
output:
  kafka:
    brokers: [%q]
    topic: events
    key: value.user
    headers: {origin: '"test"'}
    compression: lz4
    create_topic: {enabled: true, partitions: 3}
http: {enabled: false}
`, strings.Join(brokers, ",")), registers...)
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, brokers, "events", 300)
	if len(got) != 300 {
		t.Fatalf("%d records, want 300", len(got))
	}
	partitionOf := map[string]int32{}
	var ids []int
	partitions := map[int32]bool{}
	for _, r := range got {
		var id, user int
		if _, err := fmt.Sscanf(string(r.Value), `{"id":%d,"user":"u%d"}`, &id, &user); err != nil || fmt.Sprintf("u%d", id%7) != string(r.Key) {
			t.Fatalf("record key %q value %s", r.Key, r.Value)
		}
		ids = append(ids, id)
		if p, seen := partitionOf[string(r.Key)]; seen && p != r.Partition {
			t.Fatalf("key %s in partitions %d and %d: keyed records must stay in one partition", r.Key, p, r.Partition)
		}
		partitionOf[string(r.Key)] = r.Partition
		partitions[r.Partition] = true
		if len(r.Headers) != 1 || r.Headers[0].Key != "origin" || string(r.Headers[0].Value) != "test" {
			t.Fatalf("headers %v", r.Headers)
		}
	}
	slices.Sort(ids)
	for i, id := range ids {
		if id != i {
			t.Fatalf("ids %v…: want each of 0..299 once", ids[:i+1])
		}
	}
	if len(partitions) < 2 {
		t.Fatalf("7 keys over a created 3-partition topic used partitions %v", partitions)
	}
}

func TestTopicExpressionRoutesRecords(t *testing.T) {
	cluster := kfake.MustCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "even", "odd"))
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	err := enginetest.Run(t, 30*time.Second, fmt.Sprintf(`
input: {generate: {value: 'meta.offset', count: 10}}
output: {kafka: {brokers: [%q], topic_expr: 'value %% 2 == 0 ? "even" : "odd"'}}
`, brokers[0]), registers...)
	if err != nil {
		t.Fatal(err)
	}
	for topic, want := range map[string]string{"even": "0 2 4 6 8", "odd": "1 3 5 7 9"} {
		var vals []string
		for _, r := range readAll(t, brokers, topic, 5) {
			vals = append(vals, string(r.Value))
		}
		if strings.Join(vals, " ") != want {
			t.Errorf("topic %s holds %v, want %s", topic, vals, want)
		}
	}
}

func TestNoBrokerFailsAtStart(t *testing.T) {
	p, err := enginetest.Build(t, `
input: {generate: {value: '1', count: 1}}
output: {kafka: {brokers: ["127.0.0.1:1"], topic: t}}
`, registers...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = p.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "output: start: no Kafka broker answers at [127.0.0.1:1]") {
		t.Fatalf("got %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tt := range []struct{ output, want string }{
		{`{kafka: {brokers: [b:9092]}}`, `output.kafka.topic: give exactly one of topic and topic_expr`},
		{`{kafka: {brokers: [b:9092], topic: t, topic_expr: '"u"'}}`, `give exactly one of topic and topic_expr`},
		{`{kafka: {brokers: [b:9092], topic: t, sasl: {mechanism: SCRAM-SHA-512}}}`, `output.kafka.sasl.user: SASL SCRAM-SHA-512 needs a user`},
		{`{kafka: {brokers: [b:9092], topic: t, tls: {cert_file: c.pem}}}`, `give both cert_file and key_file, or neither`},
		{`{kafka: {brokers: [b:9092], topic: t, compression: brotli}}`, `"brotli" is not one of none, gzip, snappy, lz4, zstd`},
		{`{kafka: {topic: t}}`, `output.kafka.brokers: missing required field "brokers"`},
	} {
		_, err := enginetest.Build(t, "input: {generate: {value: '1'}}\noutput: "+tt.output+"\n", registers...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %q", tt.output, err, tt.want)
		}
	}
}

func TestSpecExampleBuilds(t *testing.T) {
	enginetest.CheckOutputSpec(t, kafka.Plugin().Spec, registers...)
}
