package kafkatxn_test

// Fault tests of exactly-once against kfake: a pipeline (kafka → map →
// kafka, processing_guarantee: exactly_once) runs in-process while a fault is
// injected through kfake's control hooks: a failed produce, a failed EndTxn,
// a rebalance in the middle of a transaction. After each, the pipeline
// rebuilds from its last commit by itself, and a read_committed reader sees
// every input record's result exactly once: nothing of the aborted
// transaction, nothing lost.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/inputs"
	"github.com/pipelinehq/pipeline/outputs"
	"github.com/pipelinehq/pipeline/processors"
	"github.com/pipelinehq/pipeline/service"
)

const records = 6000

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// faultRun is one pipeline on its own kfake cluster, with the input topic
// filled.
type faultRun struct {
	cluster *kfake.Cluster
	brokers string
	config  string
	log     *syncBuffer
	done    chan error
}

// newFaultRun makes the cluster and the data; start runs the pipeline, once
// the test has installed its fault.
func newFaultRun(t *testing.T) *faultRun {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "in"), kfake.SeedTopics(3, "out"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	f := &faultRun{cluster: cluster, brokers: cluster.ListenAddrs()[0], log: &syncBuffer{}, done: make(chan error, 1)}
	producer, err := kgo.NewClient(kgo.SeedBrokers(f.brokers))
	if err != nil {
		t.Fatal(err)
	}
	batch := make([]*kgo.Record, 0, records)
	for i := range records {
		batch = append(batch, &kgo.Record{Topic: "in", Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, `{"n":%d}`, i)})
	}
	if err := producer.ProduceSync(context.Background(), batch...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	producer.Close()

	cfg := filepath.Join(t.TempDir(), "eos.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
name: eos-faults
processing_guarantee: exactly_once
input:
  kafka:
    brokers: [%[1]q]
    topics: [in]
    codec: json
    batch_size: 50
    session_timeout: 6s
exactly_once: { transactional_id: eos-faults-fenced }
pipeline:
  processors:
    - map: { set: { doubled: 'value.n * 2' } }
output:
  kafka:
    brokers: [%[1]q]
    topic: out
commit_interval: 20ms
http: { enabled: false }
`, f.brokers)), 0o644); err != nil {
		t.Fatal(err)
	}
	f.config = cfg
	return f
}

func (f *faultRun) start(t *testing.T) {
	f.startInstance(t, f.log, f.done)
}

// startInstance runs one more instance of the pipeline, logging to log and
// reporting its end on done.
func (f *faultRun) startInstance(t *testing.T, log *syncBuffer, done chan error) {
	ctx, stop := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() {
		err := service.Run(ctx, service.Options{
			ConfigPath: f.config,
			Registry:   engine.NewRegistry(inputs.Register, processors.Register, outputs.Register),
			LogOutput:  log,
		})
		stopped <- err
		done <- err
	}()
	t.Cleanup(func() {
		stop()
		select {
		case <-stopped:
		case <-time.After(30 * time.Second):
			t.Errorf("the pipeline did not stop within 30s of cancel:\n%s", log)
		}
	})
}

// readOut reads the output topic to its end with the given isolation.
func (f *faultRun) readOut(t *testing.T, isolation kgo.IsolationLevel, atLeast int) []string {
	t.Helper()
	client, err := kgo.NewClient(kgo.SeedBrokers(f.brokers), kgo.ConsumeTopics("out"),
		kgo.FetchIsolationLevel(isolation), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	var got []string
	deadline := time.Now().Add(60 * time.Second)
	for len(got) < atLeast {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fetches := client.PollFetches(ctx)
		cancel()
		fetches.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Key)+" "+string(r.Value)) })
		if time.Now().After(deadline) {
			t.Fatalf("read %d records of out, want at least %d; log:\n%s", len(got), atLeast, f.log)
		}
	}
	// Anything past what was asked for (a duplicate) shows up within a poll.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	client.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Key)+" "+string(r.Value)) })
	cancel()
	return got
}

// requireExactlyOnce waits for every input's result, read_committed, and
// wants each exactly once; the rewind must have been logged.
func (f *faultRun) requireExactlyOnce(t *testing.T, fault string) {
	t.Helper()
	f.requireResultsOf(t, fault, records)
	if !strings.Contains(f.log.String(), "rebuilding the pipeline to resume from the last commit") {
		t.Fatalf("after %s: the pipeline did not rewind; log:\n%s", fault, f.log)
	}
}

// requireResults waits for every input's result, read_committed, and wants
// each exactly once.
func (f *faultRun) requireResults(t *testing.T, fault string) {
	t.Helper()
	f.requireResultsOf(t, fault, records)
}

// requireResultsOf wants the results of inputs n = 0 … records-1, each
// exactly once.
func (f *faultRun) requireResultsOf(t *testing.T, fault string, records int) {
	t.Helper()
	got := f.readOut(t, kgo.ReadCommitted(), records)
	want := make([]string, 0, records)
	for i := range records {
		want = append(want, fmt.Sprintf(`k%d {"doubled":%d,"n":%d}`, i, 2*i, i))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		var dups []string
		for i := 1; i < len(got); i++ {
			if got[i] == got[i-1] {
				dups = append(dups, got[i])
			}
		}
		t.Fatalf("after %s: read_committed holds %d records, want exactly the %d results; duplicates %d %q; log:\n%s",
			fault, len(got), records, len(dups), dups[:min(5, len(dups))], f.log)
	}
	uncommitted := f.readOut(t, kgo.ReadUncommitted(), records)
	t.Logf("after %s: all %d results exactly once read_committed (%d records in the log, aborted ones included)", fault, records, len(uncommitted))
}

// waitFor waits until cond holds.
func waitFor(t *testing.T, what string, f *faultRun, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within 30s; log:\n%s", what, f.log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// failOnce answers one request of key with the response fail makes: the
// nth (from 1) for which eligible holds. It reports whether it has.
func (f *faultRun) failOnce(key kmsg.Key, nth int32, eligible func(kmsg.Request) bool, fail func(kmsg.Request) kmsg.Response) *atomic.Bool {
	var seen atomic.Int32
	var injected atomic.Bool
	f.cluster.ControlKey(int16(key), func(req kmsg.Request) (kmsg.Response, error, bool) {
		f.cluster.KeepControl()
		if injected.Load() || !eligible(req) || seen.Add(1) < nth {
			return nil, nil, false
		}
		injected.Store(true)
		return fail(req), nil, true
	})
	return &injected
}

// invalidRecords answers a produce request: every partition failed with
// INVALID_RECORD.
func invalidRecords(req kmsg.Request) kmsg.Response {
	return produceFailedWith(req, kerr.InvalidRecord)
}

// produceFailedWith answers a produce request: every partition failed with
// err.
func produceFailedWith(req kmsg.Request, err *kerr.Error) kmsg.Response {
	pr := req.(*kmsg.ProduceRequest)
	resp := pr.ResponseKind().(*kmsg.ProduceResponse)
	for _, rt := range pr.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = err.Code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func TestFailedProduceAbortsAndRewinds(t *testing.T) {
	f := newFaultRun(t)
	// Only the pipeline produces once it runs (the input was filled
	// before). Produce v13 names topics by id, not by name.
	injected := f.failOnce(kmsg.Produce, 3, func(kmsg.Request) bool { return true }, invalidRecords)
	f.start(t)
	waitFor(t, "the injected produce error", f, injected.Load)
	f.requireExactlyOnce(t, "a failed produce")
}

func TestFailedEndTxnAbortsAndRewinds(t *testing.T) {
	f := newFaultRun(t)
	commit := func(req kmsg.Request) bool { return req.(*kmsg.EndTxnRequest).Commit }
	injected := f.failOnce(kmsg.EndTxn, 3, commit, func(req kmsg.Request) kmsg.Response {
		resp := req.ResponseKind().(*kmsg.EndTxnResponse)
		resp.ErrorCode = kerr.InvalidTxnState.Code
		return resp
	})
	f.start(t)
	waitFor(t, "the injected EndTxn error", f, injected.Load)
	f.requireExactlyOnce(t, "a failed EndTxn")
}

func TestRebalanceMidTransactionAbortsAndRewinds(t *testing.T) {
	f := newFaultRun(t)
	f.start(t)
	// Once output flows, a second member joins the group: the rebalance
	// revokes partitions in the middle of a transaction.
	waitFor(t, "output", f, func() bool { return len(f.readOutNow(t)) > 100 })
	intruder, err := kgo.NewClient(kgo.SeedBrokers(f.brokers), kgo.ConsumerGroup("eos-faults"), kgo.ConsumeTopics("in"),
		kgo.DisableAutoCommit(), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	for ctx.Err() == nil {
		intruder.PollFetches(ctx) // joins; what it reads it never commits
	}
	cancel()
	intruder.Close() // leaves: another rebalance
	f.requireExactlyOnce(t, "a rebalance mid-transaction")
}

// readOutNow is what read_uncommitted shows right now.
func (f *faultRun) readOutNow(t *testing.T) []string {
	client, err := kgo.NewClient(kgo.SeedBrokers(f.brokers), kgo.ConsumeTopics("out"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	var got []string
	client.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Key)) })
	return got
}

// A second instance with the same transactional id fences the first, which
// stops with a message saying so (it does not rewind and fence back); the
// second carries on, and every result is committed exactly once.
func TestSecondInstanceFencesTheFirst(t *testing.T) {
	f := newFaultRun(t)
	f.start(t)
	waitFor(t, "output", f, func() bool { return len(f.readOutNow(t)) > 100 })
	second := &faultRun{cluster: f.cluster, brokers: f.brokers, config: f.config, log: &syncBuffer{}, done: make(chan error, 1)}
	second.startInstance(t, second.log, second.done)
	select {
	case err := <-f.done:
		if err == nil || !strings.Contains(err.Error(), `another instance with transactional id "eos-faults-fenced" took over`) {
			t.Fatalf("the first instance ended with %v, want it fenced; log:\n%s", err, f.log)
		}
		t.Logf("the first instance stopped: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatalf("the first instance was not fenced within 60s; its log:\n%s\nthe second's:\n%s", f.log, second.log)
	}
	if strings.Contains(f.log.String(), "rebuilding the pipeline") {
		t.Fatalf("the fenced instance tried to rebuild instead of stopping:\n%s", f.log)
	}
	second.requireResults(t, "a second instance fencing the first")
	select {
	case err := <-second.done:
		t.Fatalf("the second instance stopped: %v\n%s", err, second.log)
	default:
	}
}

// TestConcurrentTransactionsRetriesAtOnce: Kafka 4 answers the first records
// of a transaction CONCURRENT_TRANSACTIONS while it still writes the markers
// of the last one. The produce is retried within a fraction of a second,
// not after franz-go's default metadata age of 5 s, which held a 100 ms
// transaction (and a restart's recovery) back for seconds.
func TestConcurrentTransactionsRetriesAtOnce(t *testing.T) {
	f := newFaultRun(t)
	// Control functions run one at a time: these need no lock.
	var injectedAt time.Time
	var failed []string // the partitions of the answered request
	var retried atomic.Pointer[time.Duration]
	f.failOnce(kmsg.Produce, 3, func(kmsg.Request) bool { return true }, func(req kmsg.Request) kmsg.Response {
		injectedAt, failed = time.Now(), producedPartitions(req)
		return produceFailedWith(req, kerr.ConcurrentTransactions)
	})
	f.cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		f.cluster.KeepControl()
		if failed != nil && retried.Load() == nil && slices.ContainsFunc(producedPartitions(req), func(p string) bool { return slices.Contains(failed, p) }) {
			after := time.Since(injectedAt)
			retried.Store(&after)
		}
		return nil, nil, false
	})
	f.start(t)
	f.requireResults(t, "a produce answered CONCURRENT_TRANSACTIONS")
	after := retried.Load()
	if after == nil {
		t.Fatal("the records answered CONCURRENT_TRANSACTIONS were not produced again")
	}
	if *after > time.Second {
		t.Fatalf("the records answered CONCURRENT_TRANSACTIONS were produced again %v later, want within a second", after.Round(time.Millisecond))
	}
	t.Logf("the records answered CONCURRENT_TRANSACTIONS were produced again %v later", after.Round(time.Millisecond))
}

// producedPartitions names the partitions a produce request writes to, as
// topic (or topic id)/partition.
func producedPartitions(req kmsg.Request) []string {
	var names []string
	for _, rt := range req.(*kmsg.ProduceRequest).Topics {
		for _, rp := range rt.Partitions {
			names = append(names, fmt.Sprintf("%s%x/%d", rt.Topic, rt.TopicID, rp.Partition))
		}
	}
	return names
}

// TestFencedJustBeforeTheCommitStops: another instance initialises the same
// transactional id between this one's last write and its EndTxn. kfake then
// answers the EndTxn INVALID_TXN_STATE (its one epoch bump looks like a
// completed KIP-890 retry), not PRODUCER_FENCED; the instance must still
// see that it was fenced and stop, not rewind and fence the other back.
func TestFencedJustBeforeTheCommitStops(t *testing.T) {
	f := newFaultRun(t)
	var commits atomic.Int32
	fencedAt := make(chan struct{})
	f.cluster.ControlKey(int16(kmsg.EndTxn), func(req kmsg.Request) (kmsg.Response, error, bool) {
		f.cluster.KeepControl()
		if !req.(*kmsg.EndTxnRequest).Commit || commits.Add(1) != 3 {
			return nil, nil, false
		}
		f.cluster.SleepControl(func() {
			other, err := kgo.NewClient(kgo.SeedBrokers(f.brokers), kgo.TransactionalID("eos-faults-fenced"))
			if err != nil {
				panic(err)
			}
			defer other.Close()
			if _, _, err := other.ProducerID(context.Background()); err != nil {
				panic(err)
			}
			close(fencedAt)
		})
		return nil, nil, false // handled as usual, under the new epoch
	})
	f.start(t)
	select {
	case err := <-f.done:
		if err == nil || !strings.Contains(err.Error(), `another instance with transactional id "eos-faults-fenced" took over`) {
			t.Fatalf("the instance ended with %v, want it fenced; log:\n%s", err, f.log)
		}
		t.Logf("the instance stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatalf("the instance was not stopped as fenced within 30s; log:\n%s", f.log)
	}
	<-fencedAt
	if strings.Contains(f.log.String(), "rebuilding the pipeline") {
		t.Fatalf("the fenced instance rebuilt instead of stopping:\n%s", f.log)
	}
}

// TestReplacedGroupMemberStops: a member that joins the session's group
// under the session's static member id (the transactional id, by default:
// another instance of the same pipeline) replaces its member. The instance
// stops, saying so, rather than rewind and take the member back, which
// would make two instances take it from each other in turn.
func TestReplacedGroupMemberStops(t *testing.T) {
	f := newFaultRun(t)
	f.start(t)
	waitFor(t, "output", f, func() bool { return len(f.readOutNow(t)) > 100 })
	intruder, err := kgo.NewClient(kgo.SeedBrokers(f.brokers), kgo.ConsumerGroup("eos-faults"), kgo.ConsumeTopics("in"),
		kgo.InstanceID("eos-faults-fenced"), kgo.DisableAutoCommit(), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer intruder.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			intruder.PollFetches(ctx) // joins; what it reads it never commits
		}
	}()
	select {
	case err := <-f.done:
		if err == nil || !strings.Contains(err.Error(), "joined") || !strings.Contains(err.Error(), "eos-faults-fenced") {
			t.Fatalf("the instance ended with %v, want it to say another joined as its member; log:\n%s", err, f.log)
		}
		t.Logf("the instance stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatalf("the instance did not stop within 30s of another member taking its instance id; log:\n%s", f.log)
	}
	if strings.Contains(f.log.String(), "rebuilding the pipeline") {
		t.Fatalf("the replaced instance rebuilt instead of stopping:\n%s", f.log)
	}
}
