package e2e

// Faults under at-least-once, on both brokers: the pipeline killed with
// SIGKILL mid-stream, and the broker restarted mid-stream. Inputs are
// produced and outputs read back with kcat; the test's own franz-go client
// only watches progress (end offsets) to time the faults.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// faultPipelineConfig is kafka (JSON) → map → kafka, committing often, as a
// static group member with the shortest session the broker allows, so that a
// killed instance's successor takes its partitions back at once.
func faultPipelineConfig(t *testing.T, bootstrap, in, out, group string) string {
	return writeConfig(t, fmt.Sprintf(`
name: kafka-faults
input:
  kafka:
    brokers: [%[1]q]
    topics: [%[2]q]
    consumer_group: %[3]q
    instance_id: e2e-instance
    session_timeout: 6s
    codec: json
    batch_size: 200
pipeline:
  processors:
    - map: { set: { doubled: 'value.n * 2' } }
output:
  kafka:
    brokers: [%[1]q]
    topic: %[4]q
    create_topic: { enabled: true, partitions: 3 }
http: { enabled: false }
commit_interval: 50ms
`, bootstrap, in, group, out))
}

// faultRecords are records [from, to) as kcat input lines, and the output
// line each must produce.
func faultRecords(from, to int) (lines []string, want []string) {
	for i := from; i < to; i++ {
		lines = append(lines, fmt.Sprintf(`k%d:{"n":%d}`, i, i))
		want = append(want, fmt.Sprintf(`k%d {"doubled":%d,"n":%d}`, i, 2*i, i))
	}
	return lines, want
}

// progress reports how many records a topic holds (the sum of its
// partitions' end offsets), -1 while it does not exist or cannot be read.
type progress struct{ adm *kadm.Client }

func newProgress(t *testing.T, bootstrap string) progress {
	t.Helper()
	client, err := kgo.NewClient(kgo.SeedBrokers(bootstrap))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	return progress{kadm.NewClient(client)}
}

func (p progress) records(topic string) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	offsets, err := p.adm.ListEndOffsets(ctx, topic)
	if err != nil || offsets.Error() != nil {
		return -1
	}
	var n int64
	offsets.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

// committed is the sum of the group's committed offsets, 0 before the group
// exists.
func (p progress) committed(t *testing.T, group string) int64 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		offsets, err := p.adm.FetchOffsets(ctx, group)
		cancel()
		if errors.Is(err, kerr.GroupIDNotFound) {
			return 0
		}
		if err == nil {
			var n int64
			offsets.Each(func(o kadm.OffsetResponse) { n += o.At })
			return n
		}
		if !kerr.IsRetriable(err) || time.Now().After(deadline) {
			t.Fatalf("fetching the offsets of %s: %v", group, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (p progress) createTopic(t *testing.T, topic string) {
	t.Helper()
	p.createTopicPartitions(t, topic, 3)
}

func (p progress) createTopicPartitions(t *testing.T, topic string, partitions int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := p.adm.CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("creating %s: %v", topic, err)
	}
	// A busy broker answers CreateTopics before every partition has a
	// leader: a reader started then (kcat) fails on an unknown topic.
	for {
		details, err := p.adm.ListTopics(ctx, topic)
		if err == nil && details[topic].Err == nil && len(details[topic].Partitions) == int(partitions) {
			led := 0
			for _, part := range details[topic].Partitions {
				if part.Err == nil && part.Leader >= 0 {
					led++
				}
			}
			if led == int(partitions) {
				return
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("%s has no leader for every partition 30s after it was made: %v", topic, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// killMidStream starts cfg, kills it with SIGKILL once a quarter of its
// backlog (produced() less what group had committed) is in out, and returns
// what group had committed after the kill. A kill that came after the run
// had committed everything tests nothing; it only means the run was quicker
// than the watch (CI's machine read the whole backlog in one fetch). Then
// the backlog grows (grow is called 2, 4, then 8 times) and the kill is tried
// again; the late runs were clean restarts and lose nothing either.
func (p progress) killMidStream(t *testing.T, cfg, group, out string, produced func() int64, grow func()) (committed int64, late int) {
	t.Helper()
	for try := 0; ; try++ {
		committedBefore := max(p.committed(t, group), 0)
		writtenBefore := max(p.records(out), 0)
		run := startPipeline(t, cfg)
		p.awaitMoreThan(t, run, out, writtenBefore+(produced()-committedBefore)/4)
		if err := run.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-run.done
		if committed = p.committed(t, group); committed < produced() {
			return committed, try
		}
		if try == 3 {
			t.Fatalf("%d kills came after the run had committed everything (%d of %d): never mid-stream", try+1, committed, produced())
		}
		for range 2 << try {
			grow()
		}
	}
}

// awaitMoreThan waits until topic holds more than n records.
func (p progress) awaitMoreThan(t *testing.T, pl *bgPipeline, topic string, n int64) int64 {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		if got := p.records(topic); got > n {
			return got
		}
		if pl.exited() {
			t.Fatalf("the pipeline exited:\n%s", pl.stderr())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not grow past %d records in 90s:\n%s", topic, n, pl.stderr())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// requireAtLeastOnce wants every wanted line at least once and nothing else,
// and returns how many lines were duplicates.
func requireAtLeastOnce(t *testing.T, what string, got, want []string) (duplicates int) {
	t.Helper()
	seen := make(map[string]int, len(got))
	for _, g := range got {
		seen[g]++
	}
	var missing, unexpected []string
	for _, w := range want {
		if seen[w] == 0 {
			missing = append(missing, w)
		}
		duplicates += max(0, seen[w]-1)
		delete(seen, w)
	}
	for g := range seen {
		unexpected = append(unexpected, g)
	}
	if len(missing) > 0 || len(unexpected) > 0 {
		t.Fatalf("%s: %d records, %d wanted; missing %d %q; unexpected %d %q",
			what, len(got), len(want), len(missing), firstN(missing, 5), len(unexpected), firstN(unexpected, 5))
	}
	return duplicates
}

// TestKafkaSIGKILLAtLeastOnce kills the pipeline with SIGKILL five times
// while it is working through a backlog that keeps growing: after a last,
// clean run every input's result is in the output topic (some twice, none
// lost, nothing else).
func TestKafkaSIGKILLAtLeastOnce(t *testing.T) {
	t.Parallel()
	forEachKafka(t, testKafkaSIGKILLAtLeastOnce)
}

func testKafkaSIGKILLAtLeastOnce(t *testing.T, bootstrap string) {
	in, out := kafkaTestName(t, "in"), kafkaTestName(t, "out")
	group := kafkaTestName(t, "group")
	cfg := faultPipelineConfig(t, bootstrap, in, out, group)
	watch := newProgress(t, bootstrap)
	watch.createTopic(t, out) // so that progress shows from the first record on
	const chunk, kills = 8000, 5
	var want []string
	produced := 0
	produceChunk := func() {
		lines, w := faultRecords(produced, produced+chunk)
		kcatProduce(t, bootstrap, in, lines)
		want = append(want, w...)
		produced += chunk
	}
	began := time.Now()
	var report []string
	for range 4 { // a backlog, so that the first kill too comes mid-stream
		produceChunk()
	}
	for kill := 1; kill <= kills; kill++ {
		produceChunk()
		committed, late := watch.killMidStream(t, cfg, group, out, func() int64 { return int64(produced) }, produceChunk)
		report = append(report, fmt.Sprintf("kill %d: %d produced, %d written, %d committed (%d late kills before)", kill, produced, watch.records(out), committed, late))
	}
	produceChunk()
	p := startPipeline(t, cfg)
	deadline := time.Now().Add(90 * time.Second)
	var got []string
	for {
		// Every record is in once at least when the distinct count is reached.
		if watch.records(out) >= int64(produced) {
			var err error
			if got, err = kcatRead(bootstrap, out, "%k %s\n"); err != nil {
				t.Fatal(err)
			}
			if distinct(got) >= produced {
				break
			}
		}
		if p.exited() {
			t.Fatalf("the last run exited:\n%s", p.stderr())
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the kills, %s never held all %d results (%d distinct)\n%s", out, produced, distinct(got), p.stderr())
		}
		time.Sleep(200 * time.Millisecond)
	}
	p.stop(t)
	got, err := kcatRead(bootstrap, out, "%k %s\n")
	if err != nil {
		t.Fatal(err)
	}
	dups := requireAtLeastOnce(t, out, got, want)
	t.Logf("%s; all %d inputs' results present, %d duplicates re-delivered after kills, in %v",
		strings.Join(report, "; "), produced, dups, time.Since(began).Round(time.Millisecond))
}

func distinct(lines []string) int {
	seen := make(map[string]struct{}, len(lines))
	for _, l := range lines {
		seen[l] = struct{}{}
	}
	return len(seen)
}

// TestKafkaBrokerRestartMidStream stops the broker while the pipeline is
// working through a backlog and starts it again five seconds later: the
// pipeline recovers by itself (it never exits) and, with more records
// produced after the restart, every input's result arrives.
func TestKafkaBrokerRestartMidStream(t *testing.T) {
	t.Parallel()
	t.Run("apache-kafka", func(t *testing.T) {
		t.Parallel()
		b := newKafkaBroker(t)
		testKafkaBrokerRestart(t, b.Bootstrap, func() {
			b.Stop(t)
			time.Sleep(5 * time.Second)
			b.Start(t)
		})
	})
	t.Run("kfake", func(t *testing.T) {
		t.Parallel()
		b := newDevBroker(t)
		testKafkaBrokerRestart(t, b.Bootstrap, func() { b.restart(t, 5*time.Second) })
	})
}

func testKafkaBrokerRestart(t *testing.T, bootstrap string, restartBroker func()) {
	in, out := kafkaTestName(t, "in"), kafkaTestName(t, "out")
	group := kafkaTestName(t, "group")
	cfg := faultPipelineConfig(t, bootstrap, in, out, group)
	watch := newProgress(t, bootstrap)
	watch.createTopic(t, out)
	lines, want := faultRecords(0, 40000)
	kcatProduce(t, bootstrap, in, lines)
	began := time.Now()
	p := startPipeline(t, cfg)
	watch.awaitMoreThan(t, p, out, 5000)
	restartBroker()
	if p.exited() {
		t.Fatalf("the pipeline exited while the broker was down:\n%s", p.stderr())
	}
	more, wantMore := faultRecords(40000, 50000)
	kcatProduce(t, bootstrap, in, more)
	want = append(want, wantMore...)
	deadline := time.Now().Add(120 * time.Second)
	var got []string
	for {
		if watch.records(out) >= int64(len(want)) {
			var err error
			if got, err = kcatRead(bootstrap, out, "%k %s\n"); err != nil {
				t.Fatal(err)
			}
			if distinct(got) >= len(want) {
				break
			}
		}
		if p.exited() {
			t.Fatalf("the pipeline exited after the broker restart:\n%s", p.stderr())
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the broker restart, %s never held all %d results (%d distinct)\n%s", out, len(want), distinct(got), p.stderr())
		}
		time.Sleep(250 * time.Millisecond)
	}
	p.stop(t)
	got, err := kcatRead(bootstrap, out, "%k %s\n")
	if err != nil {
		t.Fatal(err)
	}
	dups := requireAtLeastOnce(t, out, got, want)
	// The outage was noticed (a commit or a fetch failed) and outlived.
	logs := p.stderr()
	noticed := strings.Contains(logs, "commit failed; will retry") && strings.Contains(logs, "commits work again") ||
		strings.Contains(logs, "kafka unavailable; retrying")
	if !noticed {
		t.Fatalf("the pipeline did not log the broker's outage (failed commits, or kafka unavailable):\n%s", logs)
	}
	t.Logf("broker restarted mid-stream: all %d results present, %d duplicates, in %v; the pipeline logged:\n%s",
		len(want), dups, time.Since(began).Round(time.Millisecond), lastLines(p.stderr(), 15))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestKafkaRebalanceAtLeastOnce: a second instance joins the group while
// the first works through a backlog, then the first stops (SIGTERM): the
// partitions move twice, mid-stream. Every input's result arrives (none is
// lost across the handovers), and nothing else does.
func TestKafkaRebalanceAtLeastOnce(t *testing.T) {
	t.Parallel()
	forEachKafka(t, testKafkaRebalance)
}

func testKafkaRebalance(t *testing.T, bootstrap string) {
	in, out := kafkaTestName(t, "in"), kafkaTestName(t, "out")
	group := kafkaTestName(t, "group")
	watch := newProgress(t, bootstrap)
	watch.createTopic(t, in)
	watch.createTopic(t, out)
	// Two static members, each with its own instance id.
	template, err := os.ReadFile(faultPipelineConfig(t, bootstrap, in, out, group))
	if err != nil {
		t.Fatal(err)
	}
	instance := func(id string) string {
		return writeConfig(t, strings.Replace(string(template), "instance_id: e2e-instance", "instance_id: "+id, 1))
	}
	lines, want := faultRecords(0, 30000)
	kcatProduce(t, bootstrap, in, lines)
	first := startPipeline(t, instance("first"))
	watch.awaitMoreThan(t, first, out, 5000)
	second := startPipeline(t, instance("second"))
	// Records produced once the second member owns partitions are, on
	// those partitions, its to read, however fast the first one is.
	second.awaitLog(t, `msg="partitions assigned"`, 90*time.Second)
	more, wantMore := faultRecords(30000, 40000)
	kcatProduce(t, bootstrap, in, more)
	want = append(want, wantMore...)
	watch.awaitMoreThan(t, second, out, int64(len(want))-1)
	first.stop(t)
	last, wantLast := faultRecords(40000, 50000)
	kcatProduce(t, bootstrap, in, last)
	want = append(want, wantLast...)
	awaitCommitted(t, watch, second, group, int64(len(want)))
	second.stop(t)
	got, err := kcatRead(bootstrap, out, "%k %s\n")
	if err != nil {
		t.Fatal(err)
	}
	dups := requireAtLeastOnce(t, out, got, want)
	readBy := func(p *bgPipeline) int {
		m := regexp.MustCompile(`msg="pipeline stopped" read=(\d+)`).FindStringSubmatch(p.stderr())
		if m == nil {
			t.Fatalf("no read count logged:\n%s", p.stderr())
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	firstRead, secondRead := readBy(first), readBy(second)
	if firstRead == 0 || secondRead == 0 || firstRead >= len(want) {
		t.Fatalf("the first instance read %d records, the second %d: the work did not move between them", firstRead, secondRead)
	}
	t.Logf("a member joined and one left mid-stream (the first read %d records, the second %d): all %d results present, %d duplicates",
		firstRead, secondRead, len(want), dups)
}
