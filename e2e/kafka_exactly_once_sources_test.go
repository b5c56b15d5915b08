package e2e

// Exactly-once with inputs that are not Kafka (README "Exactly-once (Kafka
// to Kafka)"): a file or the generate input feeding a kafka output under
// processing_guarantee: exactly_once keeps its position in the compacted
// <name>-positions topic, written in the same transaction as the output
// records and read back at start. Killed with SIGKILL at random moments and
// restarted, the pipeline's read_committed output holds each input record's
// result exactly once. And several kafka inputs read as one consumer group
// in one transaction: each record of each topic exactly once.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// positionsWatch follows a pipeline's <name>-positions topic as a
// read_committed consumer: the last committed position of its main input.
type positionsWatch struct {
	topic, field string
	last         atomic.Int64
	mu           sync.Mutex
	problems     []string // records that are not a position, positions that went backwards
}

func watchPositions(t *testing.T, bootstrap, pipeline, field string) *positionsWatch {
	t.Helper()
	w := &positionsWatch{topic: pipeline + "-positions", field: field}
	followCommitted(t, bootstrap, w.topic, func(fetches kgo.Fetches) { fetches.EachRecord(w.add) })
	return w
}

// add takes one record of the positions topic: key = the input's path,
// value = its partitions' positions.
func (w *positionsWatch) add(r *kgo.Record) {
	var points []struct {
		Partition string                     `json:"partition"`
		Position  map[string]json.RawMessage `json:"position"`
	}
	err := json.Unmarshal(r.Value, &points)
	w.mu.Lock()
	defer w.mu.Unlock()
	var n int64
	ok := err == nil && len(points) == 1
	if ok {
		ok = json.Unmarshal(points[0].Position[w.field], &n) == nil
	}
	switch {
	case string(r.Key) != "input" || !ok:
		w.problems = append(w.problems, fmt.Sprintf("offset %d: key %q value %s (%v): not one position of input with %q", r.Offset, r.Key, r.Value, err, w.field))
	case n < w.last.Load():
		w.problems = append(w.problems, fmt.Sprintf("offset %d: position %d after %d: backwards", r.Offset, n, w.last.Load()))
	default:
		w.last.Store(n)
	}
}

func (w *positionsWatch) check(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.problems) > 0 {
		t.Fatalf("%s holds %d unexpected records: %s", w.topic, len(w.problems), strings.Join(firstN(w.problems, 5), "; "))
	}
}

// await waits until the committed position reaches n; a pipeline that
// exited must have committed it before (the watch may be behind).
func (w *positionsWatch) await(t *testing.T, p *bgPipeline, n int64) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	var exited time.Time
	for w.last.Load() < n {
		if exited.IsZero() && p.exited() {
			exited = time.Now()
		}
		if !exited.IsZero() && time.Since(exited) > 10*time.Second {
			t.Fatalf("the pipeline exited with position %d committed, want %d:\n%s", w.last.Load(), n, lastLines(p.stderr(), 30))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: position %d committed in 2 minutes, want %d:\n%s", w.topic, w.last.Load(), n, lastLines(p.stderr(), 30))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// kcatPosition is the last position in a positions topic (one partition)
// as a read_committed kcat reads it, 0 while it holds none.
func kcatPosition(t *testing.T, bootstrap, topic, field string) int64 {
	t.Helper()
	out := strings.TrimSpace(kcat(t, "", "-C", "-b", bootstrap, "-t", topic, "-X", "isolation.level=read_committed", "-e", "-q", "-f", "%s\n"))
	if out == "" {
		return 0
	}
	lines := strings.Split(out, "\n")
	var points []struct {
		Position map[string]json.RawMessage `json:"position"`
	}
	var n int64
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &points); err != nil || len(points) != 1 || json.Unmarshal(points[0].Position[field], &n) != nil {
		t.Fatalf("%s: the last record %q is not one position with %q (%v)", topic, lines[len(lines)-1], field, err)
	}
	return n
}

// requireExactlyOnce wants got (sorted or not) to hold every line of want
// exactly once and nothing else, and says what is missing, repeated or
// unexpected. It is linear, for outputs of many records.
func requireExactlyOnce(t *testing.T, what string, got, want []string) {
	t.Helper()
	seen := make(map[string]int, len(got))
	for _, g := range got {
		seen[g]++
	}
	var missing, repeated, unexpected []string
	for _, w := range want {
		switch n := seen[w]; {
		case n == 0:
			missing = append(missing, w)
		case n > 1:
			repeated = append(repeated, fmt.Sprintf("%s (%d times)", w, n))
		}
		delete(seen, w)
	}
	for g := range seen {
		unexpected = append(unexpected, g)
	}
	if len(missing)+len(repeated)+len(unexpected) > 0 {
		t.Fatalf("%s: %d records, want %d each once; missing %d %q; repeated %d %q; unexpected %d %q", what, len(got), len(want),
			len(missing), firstN(missing, 5), len(repeated), firstN(repeated, 5), len(unexpected), firstN(unexpected, 5))
	}
}

// eosSource is an input that is not Kafka, for the exactly-once proof.
type eosSource struct {
	name string
	// input is the input's YAML, the position field and its value at
	// the end, one kill step (about 1000 records) in position units, and
	// the output lines (kcat '%k %s') the records must give.
	input func(t *testing.T, n int) (yaml, field string, end, step int64, want []string)
	// processors map each record to its key and value.
	processors string
}

var eosSources = []eosSource{
	{
		name: "file",
		input: func(t *testing.T, n int) (string, string, int64, int64, []string) {
			path := t.TempDir() + "/in.txt"
			writeFile(t, path, numberedLines("rec--", 0, n))
			want := make([]string, n)
			for i := range want {
				want[i] = fmt.Sprintf("rec--%06d REC--%06d", i, i)
			}
			return fmt.Sprintf("file: { paths: [%q], batch_size: 200 }", path), "offset", int64(n) * posLineLen, 1000 * posLineLen, want
		},
		processors: `- map: { key: 'value', value: 'upper(value)' }`,
	},
	{
		name: "generate",
		input: func(t *testing.T, n int) (string, string, int64, int64, []string) {
			want := make([]string, n)
			for i := range want {
				want[i] = fmt.Sprintf("%d %d", i, 3*i)
			}
			return fmt.Sprintf("generate: { value: 'meta.offset', count: %d, batch_size: 200 }", n), "next", int64(n), 1000, want
		},
		processors: `- map: { key: 'string(value)', value: 'value * 3' }`,
	},
}

var resumedTxnLog = regexp.MustCompile(`msg="resuming from positions committed in the last transaction" input=input positions="\S+ \{\\"(?:offset|next)\\":(\d+)`)

// TestExactlyOnceNonKafkaInputsSIGKILL is the exactly-once proof for a
// file and for the generate input (100k records each) feeding a kafka
// output, on both brokers: killed with SIGKILL ten times (40 under STRESS)
// at random moments, each once the committed position had moved another
// 1000-3000 records (transactions of at most 2000, max_records), a random
// 0-30 ms later, restarted on the same state each time, then
// run to the end of the input. A read_committed read of the output holds
// each record's result exactly once. Every kill is checked to have come
// mid-stream, every restart to have resumed exactly at the position that
// kcat reads committed last in the positions topic, and that topic to be
// compacted.
func TestExactlyOnceNonKafkaInputsSIGKILL(t *testing.T) {
	t.Parallel()
	for _, src := range eosSources {
		t.Run(src.name, func(t *testing.T) {
			t.Parallel()
			forEachKafka(t, func(t *testing.T, bootstrap string) { testExactlyOnceSourceSIGKILL(t, bootstrap, src) })
		})
	}
}

func testExactlyOnceSourceSIGKILL(t *testing.T, bootstrap string, src eosSource) {
	n := stressed(100_000, 300_000)
	kills := stressed(10, 40)
	name, out := kafkaTestName(t, "eos-"+src.name), kafkaTestName(t, "out")
	admin := newProgress(t, bootstrap)
	admin.createTopic(t, out)
	input, field, end, step, want := src.input(t, n)
	cfg := writeConfig(t, fmt.Sprintf(`
name: %q
processing_guarantee: exactly_once
exactly_once: { transactional_id: %q, max_records: 2000 }
commit_interval: 50ms
input:
  %s
pipeline:
  processors:
    %s
output:
  kafka: { brokers: [%q], topic: %q }
state: { dir: %q }
http: { enabled: false }
`, name, name+"-txn", input, src.processors, bootstrap, out, t.TempDir()))
	watch := watchPositions(t, bootstrap, name, field)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 6))
	began := time.Now()

	var report []string
	var committed int64 // the position committed last, 0 before the first run
	for kill := 1; kill <= kills; kill++ {
		p := startPipeline(t, cfg)
		watch.await(t, p, committed+step*int64(1+rng.IntN(3)))
		time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
		if err := p.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-p.done
		if at := resumedAt(t, resumedTxnLog, p.stderr()); kill > 1 && at != committed {
			t.Fatalf("run %d resumed at %d (-1: logged no resume), want %d, the position committed last:\n%s",
				kill, at, committed, lastLines(p.stderr(), 20))
		}
		// What the positions topic holds now, read_committed by kcat, and
		// the watch caught up with it: the next run's start.
		committed = kcatPosition(t, bootstrap, watch.topic, field)
		watch.await(t, p, committed)
		if p.err == nil || committed >= end {
			t.Fatalf("kill %d came after the end of the input (position %d of %d committed; exit %v):\n%s", kill, committed, end, p.err, lastLines(p.stderr(), 20))
		}
		if kill <= 3 || kill%5 == 0 {
			report = append(report, fmt.Sprintf("kill %d at %d", kill, committed))
		}
	}
	last := startPipeline(t, cfg)
	last.awaitExit(t, 3*time.Minute)
	if at := resumedAt(t, resumedTxnLog, last.stderr()); at != committed {
		t.Fatalf("the last run resumed at %d (-1: logged no resume), want %d, the position committed last:\n%s", at, committed, lastLines(last.stderr(), 20))
	}
	if final := kcatPosition(t, bootstrap, watch.topic, field); final != end {
		t.Fatalf("after the last run %s holds position %d, want the end, %d", watch.topic, final, end)
	}
	watch.await(t, last, end)
	watch.check(t)
	if policy := cleanupPolicy(t, admin, watch.topic); policy != "compact" {
		t.Fatalf("%s has cleanup.policy %q, want compact", watch.topic, policy)
	}
	took := time.Since(began)

	got := kcatReadCommitted(t, bootstrap, out)
	requireExactlyOnce(t, fmt.Sprintf("read_committed output after %d SIGKILLs", kills), got, want)
	t.Logf("%s: %d SIGKILLs, all mid-stream (%s): read_committed output holds each of the %d records' results exactly once; in %v",
		src.name, kills, strings.Join(report, "; "), len(want), took.Round(time.Millisecond))
}

// cleanupPolicy is a topic's cleanup.policy.
func cleanupPolicy(t *testing.T, p progress, topic string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	configs, err := p.adm.DescribeTopicConfigs(ctx, topic)
	if err == nil && len(configs) == 1 {
		err = configs[0].Err
	}
	if err != nil {
		t.Fatalf("describing the configs of %s: %v", topic, err)
	}
	for _, c := range configs[0].Configs {
		if c.Key == "cleanup.policy" && c.Value != nil {
			return *c.Value
		}
	}
	return ""
}

// committedByTopic is a group's committed offsets, summed per topic; none
// before the group first committed.
func committedByTopic(t *testing.T, p progress, group string) map[string]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offsets, err := p.adm.FetchOffsets(ctx, group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return map[string]int64{}
	}
	if err != nil {
		t.Fatalf("fetching the offsets of %s: %v", group, err)
	}
	by := map[string]int64{}
	offsets.Each(func(o kadm.OffsetResponse) { by[o.Topic] += o.At })
	return by
}

// awaitTopicCommitted waits until group committed at least n records of
// topic.
func awaitTopicCommitted(t *testing.T, watch progress, p *bgPipeline, group, topic string, n int64) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Minute); committedByTopic(t, watch, group)[topic] < n; time.Sleep(20 * time.Millisecond) {
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("group %s committed %v, want %d of %s:\n%s", group, committedByTopic(t, watch, group), n, topic, lastLines(p.stderr(), 30))
		}
	}
}

// TestExactlyOnceTwoKafkaInputsSIGKILL: two kafka inputs (topics A and B,
// 10k records each, one consumer group) under exactly_once feed one kafka
// output through a map that tags each record with its topic; killed with
// SIGKILL four times (20 under STRESS) at moments spread over the stream
// (alternately once the group committed the next third, or eleventh, of
// the first half of A and of B, 0-10 ms later),
// restarted each time, then run until the group committed everything:
// read_committed, the output holds every record of A and of B exactly
// once, each tagged with the topic it was read from. Every kill is checked
// to have come mid-stream, and both inputs to have made progress in the
// killed runs.
func TestExactlyOnceTwoKafkaInputsSIGKILL(t *testing.T) {
	t.Parallel()
	forEachKafka(t, testExactlyOnceTwoKafkaInputs)
}

func testExactlyOnceTwoKafkaInputs(t *testing.T, bootstrap string) {
	kills := stressed(4, 20)
	// 4000 records between kills, and after the last.
	perTopic := 2000 * (kills + 1)
	total := int64(2 * perTopic)
	topicA, topicB := kafkaTestName(t, "a"), kafkaTestName(t, "b")
	out, group, name := kafkaTestName(t, "out"), kafkaTestName(t, "group"), kafkaTestName(t, "eos-two")
	watch := newProgress(t, bootstrap)
	for _, topic := range []string{topicA, topicB, out} {
		watch.createTopic(t, topic)
	}
	var want []string
	for _, in := range []struct{ topic, prefix string }{{topicA, "a"}, {topicB, "b"}} {
		lines := make([]string, perTopic)
		for i := range lines {
			lines[i] = fmt.Sprintf(`%s%05d:{"n":%d}`, in.prefix, i, i)
			want = append(want, fmt.Sprintf(`%s%05d {"doubled":%d,"n":%d,"src":%q}`, in.prefix, i, 2*i, i, in.topic))
		}
		kcatProduce(t, bootstrap, in.topic, lines)
	}
	input := func(topic string) string {
		return fmt.Sprintf(`kafka: { brokers: [%q], topics: [%q], consumer_group: %q, instance_id: e2e-instance, session_timeout: 6s, codec: json, batch_size: 200 }`,
			bootstrap, topic, group)
	}
	cfg := writeConfig(t, fmt.Sprintf(`
name: %q
processing_guarantee: exactly_once
exactly_once: { transactional_id: %q, max_records: 2000 }
commit_interval: 50ms
inputs:
  a:
    %s
  b:
    %s
pipeline:
  processors:
    - map: { set: { doubled: 'value.n * 2', src: 'meta.topic' } }
output:
  kafka: { brokers: [%q], topic: %q }
state: { dir: %q }
http: { enabled: false }
`, name, name+"-txn", input(topicA), input(topicB), bootstrap, out, t.TempDir()))
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	began := time.Now()

	var report []string
	prev := map[string]int64{}
	grew := map[string]int{}
	for kill := 1; kill <= kills; kill++ {
		p := startPipeline(t, cfg)
		// A consumer hands out what its fetches buffered partition by
		// partition, so one topic's backlog may be read before the
		// other's (a megabyte of each on the real broker, the whole
		// backlog on the development one): the kills alternate between
		// the topics, each once its topic's group committed the next
		// fraction of its first half, leaving the second half of each for
		// the last run (a kill at 10/11 of B came after the end, once, on
		// the development broker).
		topic, nth := topicA, int64(kill+1)/2
		if kill%2 == 0 {
			topic = topicB
		}
		awaitCommitted(t, watch, p, group, 0) // started
		awaitTopicCommitted(t, watch, p, group, topic, int64(perTopic)*nth/int64(kills/2+1)/2)
		time.Sleep(time.Duration(rng.IntN(10)) * time.Millisecond)
		if err := p.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-p.done
		by := committedByTopic(t, watch, group)
		if by[topicA]+by[topicB] >= total {
			t.Fatalf("kill %d came after everything was committed (%v of %d each)", kill, by, perTopic)
		}
		for _, topic := range []string{topicA, topicB} {
			if by[topic] > prev[topic] {
				grew[topic]++
			}
		}
		prev = by
		report = append(report, fmt.Sprintf("kill %d: A %d, B %d committed", kill, by[topicA], by[topicB]))
	}
	if grew[topicA] == 0 || grew[topicB] == 0 {
		t.Fatalf("the killed runs did not read both inputs: A progressed in %d runs, B in %d (%s)", grew[topicA], grew[topicB], strings.Join(report, "; "))
	}
	last := startPipeline(t, cfg)
	awaitCommitted(t, watch, last, group, total)
	last.stop(t)
	by := committedByTopic(t, watch, group)
	if by[topicA] != int64(perTopic) || by[topicB] != int64(perTopic) {
		t.Fatalf("the group committed %v, want %d of each topic", by, perTopic)
	}
	got := kcatReadCommitted(t, bootstrap, out)
	requireExactlyOnce(t, fmt.Sprintf("read_committed output of two inputs after %d SIGKILLs", kills), got, want)
	t.Logf("%d SIGKILLs (%s): read_committed output holds each of the %d records of A and of B exactly once; in %v",
		kills, strings.Join(report, "; "), perTopic, time.Since(began).Round(time.Millisecond))
}

// followCommitted reads topic from its start as a read_committed consumer
// until the test ends, handing each poll's fetches to handle.
func followCommitted(t *testing.T, bootstrap, topic string, handle func(kgo.Fetches)) {
	t.Helper()
	client, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.MetadataMinAge(100*time.Millisecond), kgo.MetadataMaxAge(time.Second), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			handle(client.PollFetches(ctx))
		}
	}()
	t.Cleanup(func() { cancel(); <-done; client.Close() })
}
