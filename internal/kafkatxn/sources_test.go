package kafkatxn_test

// Exactly-once beyond one Kafka input, on kfake: two Kafka inputs read in
// one session, and inputs that are not Kafka (a file, the generator) whose
// positions commit in the transaction, in the positions topic. Each run has
// a fault that aborts a transaction; the rebuilt pipeline resumes from the
// last commit and every result is read_committed exactly once. And a drain:
// a stop commits everything read.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/inputs"
	"github.com/pipelinehq/pipeline/outputs"
	"github.com/pipelinehq/pipeline/processors"
	"github.com/pipelinehq/pipeline/service"
)

// withConfig makes f run yaml instead (%[1]s is the brokers' address).
func (f *faultRun) withConfig(t *testing.T, yaml string) {
	t.Helper()
	f.config = filepath.Join(t.TempDir(), "eos.yaml")
	if err := os.WriteFile(f.config, []byte(fmt.Sprintf(yaml, f.brokers)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// failProduceAfterCommits fails the pipeline's first produce request after
// it committed n transactions, which aborts the open one.
func (f *faultRun) failProduceAfterCommits(n int32) func() bool {
	var commits atomic.Int32
	f.cluster.ControlKey(int16(kmsg.EndTxn), func(req kmsg.Request) (kmsg.Response, error, bool) {
		f.cluster.KeepControl()
		if req.(*kmsg.EndTxnRequest).Commit {
			commits.Add(1)
		}
		return nil, nil, false
	})
	after := func(kmsg.Request) bool { return commits.Load() >= n }
	injected := f.failOnce(kmsg.Produce, 1, after, invalidRecords)
	return injected.Load
}

const eosMap = `
pipeline:
  processors:
    - map: { key: '"k" + string(value.n)', set: { doubled: 'value.n * 2' } }
output:
  kafka: { brokers: [%[1]q], topic: out }
exactly_once: { transactional_id: eos-sources, max_records: 500 }
commit_interval: 20ms
http: { enabled: false }
`

// TestTwoKafkaInputsInOneTransaction: the records of two Kafka inputs (one
// consumer group, one session) are each written exactly once across an
// aborted transaction.
func TestTwoKafkaInputsInOneTransaction(t *testing.T) {
	f := newFaultRun(t) // "in" holds n = 0 … records-1; "more" the next half as many
	produceNumbers(t, f.brokers, "more", records, records*3/2)
	f.withConfig(t, `
name: eos-two
processing_guarantee: exactly_once
inputs:
  first: { kafka: { brokers: [%[1]q], topics: [in], codec: json, batch_size: 50, session_timeout: 6s } }
  second: { kafka: { brokers: [%[1]q], topics: [more], codec: json, batch_size: 50, session_timeout: 6s } }
`+eosMap)
	injected := f.failProduceAfterCommits(2)
	f.start(t)
	waitFor(t, "the injected produce error", f, injected)
	f.requireResultsOf(t, "a failed produce, reading two kafka inputs", records*3/2)
	if !strings.Contains(f.log.String(), "rebuilding the pipeline to resume from the last commit") {
		t.Fatalf("the pipeline did not rewind; log:\n%s", f.log)
	}
}

// TestNonKafkaInputsExactlyOnce: a file and the generator into Kafka. Their
// positions commit in each transaction (the positions topic); after an
// aborted one the rebuilt pipeline resumes from them, and every record's
// result is read_committed exactly once.
func TestNonKafkaInputsExactlyOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "numbers.jsonl")
	var lines strings.Builder
	for i := range records {
		fmt.Fprintf(&lines, "{\"n\":%d}\n", i)
	}
	if err := os.WriteFile(path, []byte(lines.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, input := range map[string]string{
		"file":     fmt.Sprintf("file: { paths: [%q], codec: json_lines, batch_size: 50 }", path),
		"generate": fmt.Sprintf("generate: { value: '{\"n\": meta.offset}', count: %d, batch_size: 50 }", records),
	} {
		t.Run(name, func(t *testing.T) {
			f := newFaultRun(t)
			f.withConfig(t, "name: eos-"+name+"\nprocessing_guarantee: exactly_once\nstate: { dir: "+fmt.Sprintf("%q", t.TempDir())+" }\ninput:\n  "+input+"\n"+eosMap)
			injected := f.failProduceAfterCommits(2)
			f.start(t)
			waitFor(t, "the injected produce error", f, injected)
			f.requireExactlyOnce(t, "a failed produce, reading a "+name+" input")
			if !strings.Contains(f.log.String(), "resuming from positions committed in the last transaction") {
				t.Fatalf("the rebuilt pipeline did not resume from the positions topic; log:\n%s", f.log)
			}
			saved := lastValues(t, f.brokers, "eos-"+name+"-positions")
			want := `{"next":6000}}]`
			if name == "file" {
				want = fmt.Sprintf(`{"offset":%d,`, lines.Len())
			}
			if !strings.Contains(saved["input"], want) {
				t.Fatalf("the positions topic holds %q, want the input's final position (%s…)", saved, want)
			}
		})
	}
}

// TestDrainCommitsEverythingRead: a stop in the middle of the input ends
// with a last transaction holding the results of everything read: the
// group's committed offsets and the read_committed output agree. The next
// run goes on from there, and every result is written exactly once.
func TestDrainCommitsEverythingRead(t *testing.T) {
	f := newFaultRun(t)
	f.withConfig(t, `
name: eos-drain
processing_guarantee: exactly_once
input:
  kafka: { brokers: [%[1]q], topics: [in], codec: json, batch_size: 20, session_timeout: 6s }
`+strings.Replace(eosMap, "commit_interval: 20ms", "commit_interval: 1h\nshutdown_timeout: 20s", 1))
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runService(ctx, f.config, f.log) }()
	waitFor(t, "output", f, func() bool { return len(f.readOutNow(t)) > 200 })
	stop()
	if err := <-done; err != nil {
		t.Fatalf("the drained run failed: %v\n%s", err, f.log)
	}
	committed := groupCommitted(t, f.brokers, "eos-drain")
	if committed == 0 || committed == records {
		t.Fatalf("%d records committed: the stop did not come in the middle of the input", committed)
	}
	if got := f.readOut(t, kgo.ReadCommitted(), int(committed)); len(got) != int(committed) {
		t.Fatalf("after the drain %d results are committed for %d records read and committed", len(got), committed)
	}
	t.Logf("drained after %d of %d records: exactly their %d results committed", committed, records, committed)
	drained, err := os.ReadFile(f.config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.config, []byte(strings.Replace(string(drained), "commit_interval: 1h", "commit_interval: 20ms", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	f.start(t)
	f.requireResults(t, "a drain in the middle of the input")
}

func runService(ctx context.Context, config string, log *syncBuffer) error {
	return service.Run(ctx, service.Options{ConfigPath: config, LogOutput: log,
		Registry: engine.NewRegistry(inputs.Register, processors.Register, outputs.Register)})
}

func mustClient(t *testing.T, brokers string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	client, err := kgo.NewClient(append(opts, kgo.SeedBrokers(brokers))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	return client
}

// produceNumbers writes {"n": i} for i in [from, to) to topic.
func produceNumbers(t *testing.T, brokers, topic string, from, to int) {
	t.Helper()
	client := mustClient(t, brokers)
	if _, err := kadm.NewClient(client).CreateTopic(context.Background(), 3, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, `{"n":%d}`, i)})
	}
	if err := client.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// lastValues reads a topic to its end, read_committed: each key's last value.
func lastValues(t *testing.T, brokers, topic string) map[string]string {
	t.Helper()
	client := mustClient(t, brokers, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	values := map[string]string{}
	for idle := 0; idle < 2; {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		n := 0
		client.PollFetches(ctx).EachRecord(func(r *kgo.Record) { values[string(r.Key)] = string(r.Value); n++ })
		cancel()
		if n == 0 {
			idle++
		}
	}
	return values
}

// groupCommitted is the sum of a group's committed offsets.
func groupCommitted(t *testing.T, brokers, group string) int64 {
	t.Helper()
	offsets, err := kadm.NewClient(mustClient(t, brokers)).FetchOffsets(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	offsets.Each(func(o kadm.OffsetResponse) { n += o.At })
	return n
}
