package kafka_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/enginetest"
	"github.com/pipelinehq/pipeline/inputs"
	"github.com/pipelinehq/pipeline/inputs/kafka"
	"github.com/pipelinehq/pipeline/outputs"
	"github.com/pipelinehq/pipeline/processors"
)

var registers = []func(*engine.Registry){inputs.Register, processors.Register, outputs.Register}

func produce(t *testing.T, brokers []string, topic string, from, to int, value func(i int) string) {
	t.Helper()
	c, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("k%d", i%10)), Value: []byte(value(i))})
	}
	if err := c.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// runUntil runs a pipeline until its output file has n lines, then stops it
// (a graceful stop, which commits) and returns the lines.
func runUntil(t *testing.T, yaml, out string, n int) []string {
	t.Helper()
	p, err := enginetest.Build(t, yaml, registers...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	var lines []string
	for {
		data, _ := os.ReadFile(out)
		lines = strings.Split(strings.TrimSpace(string(data)), "\n")
		if len(data) > 0 && len(lines) >= n {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("only %d of %d records written", len(lines), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(out)
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

// config reads topic in and writes out; its state directory is beside out,
// so that runs writing to one directory are restarts of one instance (the
// state directory is part of the default group instance id).
func config(brokers []string, group, out, extra string) string {
	return fmt.Sprintf(`
input: {kafka: {brokers: [%q], topics: [in], consumer_group: %s%s}}
pipeline: {processors: [{map: {value: 'key + "=" + string(value) + "@" + string(meta.partition)'}}]}
output: {file: {path: %q, mode: truncate}}
commit_interval: 50ms
state: {dir: %q}
`, strings.Join(brokers, ","), group, extra, out, filepath.Join(filepath.Dir(out), "state"))
}

func TestConsumesEveryPartitionInOrderAndCommits(t *testing.T) {
	cluster := kfake.MustCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "in"))
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	produce(t, brokers, "in", 0, 600, strconv)
	dir := t.TempDir()
	out := filepath.Join(dir, "out.txt")
	lines := runUntil(t, config(brokers, "g1", out, ""), out, 600)
	checkOnceInKeyOrder(t, lines, 0, 600)

	adm := kadm.NewClient(mustClient(t, brokers))
	committed, err := adm.FetchOffsets(context.Background(), "g1")
	if err != nil {
		t.Fatal(err)
	}
	ends, err := adm.ListEndOffsets(context.Background(), "in")
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(e kadm.ListedOffset) {
		c, ok := committed.Lookup("in", e.Partition)
		if !ok || c.At != e.Offset {
			t.Errorf("partition %d: committed %v, end offset %d", e.Partition, c.At, e.Offset)
		}
	})

	// A restart of the same group reads only what came since.
	produce(t, brokers, "in", 600, 700, strconv)
	out2 := filepath.Join(dir, "out2.txt")
	lines = runUntil(t, config(brokers, "g1", out2, ""), out2, 100)
	checkOnceInKeyOrder(t, lines, 600, 700)
}

func TestStartFromTimestampReadsOnlyLaterRecords(t *testing.T) {
	cluster := kfake.MustCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "in"))
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	produce(t, brokers, "in", 0, 50, strconv)
	time.Sleep(30 * time.Millisecond)
	from := time.Now()
	time.Sleep(30 * time.Millisecond)
	produce(t, brokers, "in", 50, 80, strconv)
	out := filepath.Join(t.TempDir(), "out.txt")
	lines := runUntil(t, config(brokers, "replay", out, ", start_from: "+from.UTC().Format(time.RFC3339Nano)), out, 30)
	checkOnceInKeyOrder(t, lines, 50, 80)
}

func TestInvalidJSONGoesToTheDeadLetterOutput(t *testing.T) {
	cluster := kfake.MustCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "in"))
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	produce(t, brokers, "in", 0, 6, func(i int) string {
		if i%3 == 1 {
			return "not json"
		}
		return fmt.Sprintf(`{"n":%d}`, i)
	})
	dir := t.TempDir()
	out, dlq := filepath.Join(dir, "out.txt"), filepath.Join(dir, "dlq.jsonl")
	lines := runUntil(t, fmt.Sprintf(`
input: {kafka: {brokers: [%q], topics: [in], codec: json}}
pipeline: {processors: [{map: {value: 'value.n * 10'}}]}
output: {file: {path: %q}}
on_error: dead_letter
dead_letter: {file: {path: %q, codec: envelope}}
`, brokers[0], out, dlq), out, 4)
	if strings.Join(lines, ",") != "0,20,30,50" {
		t.Fatalf("good records: %v", lines)
	}
	data, _ := os.ReadFile(dlq)
	dead := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(dead) != 2 || !strings.Contains(dead[0], `"value":"not json"`) || !strings.Contains(dead[0], `"error":"value is not valid JSON`) ||
		!strings.Contains(dead[0], `"error_source":"record at in/0:1"`) || !strings.Contains(dead[1], `"error_source":"record at in/0:4"`) {
		t.Fatalf("dead letters:\n%s", data)
	}
}

// TestBytesCodecPassesValuesUndecoded: with codec bytes, expressions see the
// value as bytes and binary values reach the output byte for byte.
func TestBytesCodecPassesValuesUndecoded(t *testing.T) {
	cluster := kfake.MustCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "in"))
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	values := []string{"\xff\x00\x01", "ab", "not json {", "\x80\x81\x82\x83"}
	produce(t, brokers, "in", 0, len(values), func(i int) string { return values[i] })
	out := filepath.Join(t.TempDir(), "out.bin")
	runUntil(t, fmt.Sprintf(`
input: {kafka: {brokers: [%q], topics: [in], codec: bytes}}
pipeline: {processors: [{filter: 'len(value) >= 3'}]}
output: {file: {path: %q}}
`, brokers[0], out), out, 3)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := "\xff\x00\x01\nnot json {\n\x80\x81\x82\x83\n"; string(data) != want {
		t.Fatalf("output %q, want %q", data, want)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tt := range []struct{ input, want string }{
		{`{kafka: {brokers: [b:9092], topics: [t], start_from: yesterday}}`, `input.kafka.start_from: want earliest, latest or an RFC 3339 time`},
		{`{kafka: {brokers: [b:9092]}}`, `input.kafka.topics: missing required field "topics"`},
		{`{kafka: {brokers: [b:9092], topics: [t], codec: avro}}`, `"avro" is not one of text, json, bytes`},
	} {
		_, err := enginetest.Build(t, "input: "+tt.input+"\noutput: {drop: {}}\n", registers...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %q", tt.input, err, tt.want)
		}
	}
}

func TestSpecExampleBuilds(t *testing.T) {
	enginetest.CheckInputSpec(t, kafka.Plugin().Spec, registers...)
}

func strconv(i int) string { return fmt.Sprint(i) }

func mustClient(t *testing.T, brokers []string) *kgo.Client {
	c, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// checkOnceInKeyOrder wants every value in [from, to) exactly once, and the
// values of each key (one partition) in increasing order.
func checkOnceInKeyOrder(t *testing.T, lines []string, from, to int) {
	t.Helper()
	seen := map[int]bool{}
	last := map[string]int{}
	for _, l := range lines {
		var key string
		var n, part int
		if _, err := fmt.Sscanf(strings.Replace(strings.Replace(l, "=", " ", 1), "@", " ", 1), "%s %d %d", &key, &n, &part); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if seen[n] || n < from || n >= to {
			t.Fatalf("value %d read twice or out of [%d,%d)", n, from, to)
		}
		seen[n] = true
		if prev, ok := last[key]; ok && prev > n {
			t.Fatalf("key %s: %d after %d: partition order lost", key, n, prev)
		}
		last[key] = n
	}
	if len(seen) != to-from {
		t.Fatalf("%d distinct values, want %d", len(seen), to-from)
	}
}

func TestCreatesItsTopicWithTheDeclaredPartitions(t *testing.T) {
	cluster := kfake.MustCluster(kfake.NumBrokers(1))
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	p, err := enginetest.Build(t, fmt.Sprintf(`
input: {kafka: {brokers: [%q], topics: [made], create_topic: {enabled: true, partitions: 4}}}
output: {drop: {}}
`, brokers[0]), registers...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	adm := kadm.NewClient(mustClient(t, brokers))
	deadline := time.Now().Add(10 * time.Second)
	for {
		topics, err := adm.ListTopics(context.Background(), "made")
		if err == nil && topics.Has("made") {
			if n := len(topics["made"].Partitions); n != 4 {
				t.Fatalf("created with %d partitions, want 4", n)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the topic was not created")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestCreateTopicRefusesRegexTopics(t *testing.T) {
	_, err := enginetest.Build(t, "input: {kafka: {brokers: [b:9092], topics: ['t.*'], topics_regex: true, create_topic: {enabled: true}}}\noutput: {drop: {}}\n", registers...)
	if err == nil || !strings.Contains(err.Error(), "create_topic needs topic names, not regular expressions") {
		t.Fatalf("got %v", err)
	}
}

// TestTombstonesPassThrough: a record with a null value passes the json
// codec (it is no invalid JSON), a map's set leaves it a tombstone, and the
// kafka output writes it with a null value again, keyed as it came.
func TestTombstonesPassThrough(t *testing.T) {
	cluster := kfake.MustCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "in", "out", "dlq"))
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	client := mustClient(t, brokers)
	in := []*kgo.Record{
		{Topic: "in", Key: []byte("a"), Value: []byte(`{"n":1}`)},
		{Topic: "in", Key: []byte("a")}, // a tombstone
		{Topic: "in", Key: []byte("b"), Value: []byte{}},
	}
	if err := client.ProduceSync(context.Background(), in...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	p, err := enginetest.Build(t, fmt.Sprintf(`
input: {kafka: {brokers: [%[1]q], topics: [in], codec: json}}
pipeline: {processors: [{map: {set: {seen: 'true'}}}]}
output: {kafka: {brokers: [%[1]q], topic: out}}
on_error: dead_letter
dead_letter: {kafka: {brokers: [%[1]q], topic: dlq}}
`, brokers[0]), registers...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	reader, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics("out", "dlq"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	var got []string
	for deadline := time.Now().Add(20 * time.Second); len(got) < 3 && time.Now().Before(deadline); {
		pctx, pcancel := context.WithTimeout(context.Background(), time.Second)
		reader.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
			v := "null"
			if r.Value != nil {
				v = fmt.Sprintf("%q", r.Value)
			}
			got = append(got, r.Topic+" "+string(r.Key)+" "+v)
		})
		pcancel()
	}
	// The empty value is no tombstone, and not JSON: it is dead-lettered.
	want := []string{`dlq b ""`, `out a "{\"n\":1,\"seen\":true}"`, `out a null`}
	slices.Sort(got) // out's records in their order, the dead letter before them
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
