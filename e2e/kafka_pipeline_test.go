package e2e

// Kafka pipelines run by the built binary against the real broker. Inputs are
// produced and outputs read back with kcat, an independent client, and every
// test asserts the exact records on every topic it touches.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var kafkaTopicSeq atomic.Int64

// kafkaTestName is a topic or group name unique to this test and this run.
func kafkaTestName(t *testing.T, what string) string {
	t.Helper()
	base := regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-")
	return fmt.Sprintf("%s-%s-%d-%d", what, base, time.Now().UnixNano()%1_000_000_000, kafkaTopicSeq.Add(1))
}

// kcatProduce produces key:value lines (split on the first ':').
func kcatProduce(t *testing.T, bootstrap, topic string, lines []string) {
	t.Helper()
	kcat(t, strings.Join(lines, "\n")+"\n", "-P", "-b", bootstrap, "-t", topic, "-K:")
}

// kcatRead reads the whole topic with the given format, one record per line.
// A topic that does not exist yet reads as empty.
func kcatRead(bootstrap, topic, format string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kcat", "-C", "-b", bootstrap, "-t", topic, "-e", "-q", "-f", format)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("kcat -C %s: %v: %s", topic, err, stderr.String())
	}
	s := strings.TrimSuffix(string(out), "\n")
	if s == "" {
		return nil, nil
	}
	lines := strings.Split(s, "\n")
	slices.Sort(lines)
	return lines, nil
}

// awaitTopics polls the topics with kcat until each holds at least its
// expected number of records, and returns what they hold, sorted.
func awaitTopics(t *testing.T, p *bgPipeline, bootstrap, format string, want map[string]int) map[string][]string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := map[string][]string{}
		done := true
		var lastErr error
		for topic, n := range want {
			lines, err := kcatRead(bootstrap, topic, format)
			if err != nil {
				lastErr = err
			}
			got[topic] = lines
			if len(lines) < n {
				done = false
			}
		}
		if done {
			return got
		}
		if p.exited() {
			t.Fatalf("the pipeline exited before the output arrived:\n%s", p.stderr())
		}
		if time.Now().After(deadline) {
			counts := map[string]int{}
			for topic, l := range got {
				counts[topic] = len(l)
			}
			t.Fatalf("after 60s the topics hold %v, want %v (last kcat error: %v)\n%s", counts, want, lastErr, p.stderr())
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// bgPipeline is `pipeline run` in the background, killed by the test's
// cleanup if the test did not stop it.
type bgPipeline struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	errb bytes.Buffer
	done chan struct{}
	err  error
}

func (p *bgPipeline) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.errb.Write(b)
}

func (p *bgPipeline) stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.errb.String()
}

// awaitLog waits until the pipeline logged a line containing text.
func (p *bgPipeline) awaitLog(t *testing.T, text string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.stderr(), text) {
		if p.exited() {
			t.Fatalf("the pipeline exited before logging %q:\n%s", text, p.stderr())
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pipeline did not log %q in %s:\n%s", text, timeout, p.stderr())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *bgPipeline) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func startPipeline(t *testing.T, cfg string) *bgPipeline {
	t.Helper()
	return startPipelineArgs(t, nil, "run", "-c", cfg)
}

// startPipelineArgs runs the binary with args from the repository root, with
// env added to this process's environment.
func startPipelineArgs(t *testing.T, env []string, args ...string) *bgPipeline {
	t.Helper()
	p := &bgPipeline{cmd: exec.Command(pipelineBin, args...), done: make(chan struct{})}
	p.cmd.Dir = repoRoot
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		if !p.exited() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// stop sends SIGTERM and requires a clean exit within 30 s.
func (p *bgPipeline) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, p.stderr())
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("the pipeline did not stop within 30s of SIGTERM:\n%s", p.stderr())
	}
	if p.err != nil {
		t.Fatalf("the pipeline did not exit 0 after SIGTERM: %v\n%s", p.err, p.stderr())
	}
}

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "pipeline.yaml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func requireLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	want = slices.Clone(want)
	slices.Sort(want)
	if slices.Equal(got, want) {
		return
	}
	var missing, extra []string
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w)
		}
	}
	seen := map[string]int{}
	for _, g := range got {
		seen[g]++
		if !slices.Contains(want, g) || seen[g] > 1 {
			extra = append(extra, g)
		}
	}
	t.Fatalf("%s: got %d records, want %d; missing %d %q; unexpected or duplicated %d %q",
		what, len(got), len(want), len(missing), firstN(missing, 5), len(extra), firstN(extra, 5))
}

func firstN(s []string, n int) []string { return s[:min(n, len(s))] }

// TestKafkaPipelineMapFilterBranch runs map → filter → branch from one topic
// to two, stops it with SIGTERM, then runs it again in the same consumer
// group: only records produced since come out, each once.
func TestKafkaPipelineMapFilterBranch(t *testing.T) {
	t.Parallel()
	forEachKafka(t, testKafkaPipelineMapFilterBranch)
}

func testKafkaPipelineMapFilterBranch(t *testing.T, bootstrap string) {
	in, even, odd := kafkaTestName(t, "in"), kafkaTestName(t, "out-even"), kafkaTestName(t, "out-odd")
	group := kafkaTestName(t, "group")
	cfg := writeConfig(t, fmt.Sprintf(`
name: kafka-map-filter-branch
input:
  kafka:
    brokers: [%[1]q]
    topics: [%[2]q]
    consumer_group: %[3]q
    start_from: earliest
    codec: json
pipeline:
  processors:
    - map: { set: { doubled: 'value.n * 2' } }
    - filter: 'int(value.n) %% 5 != 0'
    - branch:
        cases:
          - when: 'int(value.n) %% 2 == 0'
            output: even
output:
  kafka:
    brokers: [%[1]q]
    topic: %[5]q
    create_topic: { enabled: true, partitions: 3 }
outputs:
  even:
    kafka:
      brokers: [%[1]q]
      topic: %[4]q
      create_topic: { enabled: true, partitions: 3 }
http: { enabled: false }
commit_interval: 100ms
`, bootstrap, in, group, even, odd))

	produce := func(from, to int) (wantEven, wantOdd []string) {
		var lines []string
		for i := from; i < to; i++ {
			lines = append(lines, fmt.Sprintf(`k%d:{"n":%d}`, i, i))
			if i%5 == 0 {
				continue
			}
			rec := fmt.Sprintf(`k%d {"doubled":%d,"n":%d}`, i, 2*i, i)
			if i%2 == 0 {
				wantEven = append(wantEven, rec)
			} else {
				wantOdd = append(wantOdd, rec)
			}
		}
		kcatProduce(t, bootstrap, in, lines)
		return wantEven, wantOdd
	}

	// Run 1: 200 records.
	began := time.Now()
	wantEven, wantOdd := produce(0, 200)
	p := startPipeline(t, cfg)
	awaitTopics(t, p, bootstrap, "%k %s\n", map[string]int{even: len(wantEven), odd: len(wantOdd)})
	p.stop(t)
	got := awaitTopics(t, p, bootstrap, "%k %s\n", map[string]int{even: 0, odd: 0})
	requireLines(t, "run 1, "+even, got[even], wantEven)
	requireLines(t, "run 1, "+odd, got[odd], wantOdd)
	t.Logf("run 1: 200 in, %d even + %d odd out, exact, in %v", len(wantEven), len(wantOdd), time.Since(began).Round(time.Millisecond))

	// Run 2, same group: 20 new records; the committed 200 are not read again.
	began = time.Now()
	newEven, newOdd := produce(200, 220)
	wantEven, wantOdd = append(wantEven, newEven...), append(wantOdd, newOdd...)
	p = startPipeline(t, cfg)
	awaitTopics(t, p, bootstrap, "%k %s\n", map[string]int{even: len(wantEven), odd: len(wantOdd)})
	time.Sleep(2 * time.Second) // time for anything re-read to show up
	p.stop(t)
	got = awaitTopics(t, p, bootstrap, "%k %s\n", map[string]int{even: 0, odd: 0})
	requireLines(t, "run 2, "+even, got[even], wantEven)
	requireLines(t, "run 2, "+odd, got[odd], wantOdd)
	t.Logf("run 2 (same group): 20 new in, %d even + %d odd new out, nothing re-read, in %v", len(newEven), len(newOdd), time.Since(began).Round(time.Millisecond))
}

// TestKafkaPipelineDeadLetters sends records that are not JSON to a
// dead-letter topic, with their original key and value and the error in
// headers; every valid record reaches the main topic.
func TestKafkaPipelineDeadLetters(t *testing.T) {
	t.Parallel()
	forEachKafka(t, testKafkaPipelineDeadLetters)
}

func testKafkaPipelineDeadLetters(t *testing.T, bootstrap string) {
	in, out, dlq := kafkaTestName(t, "in"), kafkaTestName(t, "out"), kafkaTestName(t, "dlq")
	cfg := writeConfig(t, fmt.Sprintf(`
name: kafka-dead-letters
input:
  kafka:
    brokers: [%[1]q]
    topics: [%[2]q]
    consumer_group: %[3]q
    codec: json
pipeline:
  processors:
    - map: { set: { m: 'value.n + 1' } }
output:
  kafka:
    brokers: [%[1]q]
    topic: %[4]q
    create_topic: { enabled: true, partitions: 3 }
on_error: dead_letter
dead_letter:
  kafka:
    brokers: [%[1]q]
    topic: %[5]q
    create_topic: { enabled: true, partitions: 3 }
http: { enabled: false }
commit_interval: 100ms
`, bootstrap, in, kafkaTestName(t, "group"), out, dlq))

	var lines, wantOut, wantBad []string
	for i := range 60 {
		if i%4 == 3 {
			v := fmt.Sprintf(`not json {n=%d`, i)
			lines = append(lines, fmt.Sprintf("bad%d:%s", i, v))
			wantBad = append(wantBad, fmt.Sprintf("bad%d|%s", i, v))
			continue
		}
		lines = append(lines, fmt.Sprintf(`good%d:{"n":%d}`, i, i))
		wantOut = append(wantOut, fmt.Sprintf(`good%d {"m":%d,"n":%d}`, i, i+1, i))
	}
	began := time.Now()
	kcatProduce(t, bootstrap, in, lines)
	p := startPipeline(t, cfg)
	awaitTopics(t, p, bootstrap, "%k|%s\n", map[string]int{out: len(wantOut), dlq: len(wantBad)})
	p.stop(t)

	gotOut, err := kcatRead(bootstrap, out, "%k %s\n")
	if err != nil {
		t.Fatal(err)
	}
	requireLines(t, out, gotOut, wantOut)

	gotDLQ, err := kcatRead(bootstrap, dlq, "%k|%s|%h\n")
	if err != nil {
		t.Fatal(err)
	}
	var keyValue []string
	for _, l := range gotDLQ {
		parts := strings.SplitN(l, "|", 3)
		if len(parts) != 3 {
			t.Fatalf("dead letter %q: want key|value|headers", l)
		}
		keyValue = append(keyValue, parts[0]+"|"+parts[1])
		h := parts[2]
		if !regexp.MustCompile(`(^|,)error=[^,]*not valid JSON`).MatchString(h) {
			t.Fatalf("dead letter %q: no error=...not valid JSON... header", l)
		}
		if !strings.Contains(h, "error_component=") || !strings.Contains(h, "error_source=") {
			t.Fatalf("dead letter %q: want error_component and error_source headers", l)
		}
	}
	slices.Sort(keyValue)
	requireLines(t, dlq, keyValue, wantBad)
	t.Logf("%d valid records on %s, exactly the %d invalid ones on %s with the error in headers (e.g. %q), in %v",
		len(wantOut), out, len(wantBad), dlq, gotDLQ[0], time.Since(began).Round(time.Millisecond))
}

// TestKafkaPipelineReplayFromTime starts a new consumer group at a point in
// time: exactly the records produced at or after it come out.
func TestKafkaPipelineReplayFromTime(t *testing.T) {
	t.Parallel()
	forEachKafka(t, testKafkaPipelineReplayFromTime)
}

func testKafkaPipelineReplayFromTime(t *testing.T, bootstrap string) {
	in, out := kafkaTestName(t, "in"), kafkaTestName(t, "out")
	began := time.Now()
	batch := func(from, to int) (lines, want []string) {
		for i := from; i < to; i++ {
			lines = append(lines, fmt.Sprintf("r%d:v%d", i, i))
			want = append(want, fmt.Sprintf("r%d v%d", i, i))
		}
		return lines, want
	}
	first, _ := batch(0, 50)
	kcatProduce(t, bootstrap, in, first)
	time.Sleep(1500 * time.Millisecond)
	at := time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00")
	second, want := batch(50, 100)
	kcatProduce(t, bootstrap, in, second)

	cfg := writeConfig(t, fmt.Sprintf(`
name: kafka-replay
input:
  kafka:
    brokers: [%[1]q]
    topics: [%[2]q]
    consumer_group: %[3]q
    start_from: %[4]q
output:
  kafka:
    brokers: [%[1]q]
    topic: %[5]q
    create_topic: { enabled: true, partitions: 3 }
http: { enabled: false }
commit_interval: 100ms
`, bootstrap, in, kafkaTestName(t, "group"), at, out))
	p := startPipeline(t, cfg)
	awaitTopics(t, p, bootstrap, "%k %s\n", map[string]int{out: len(want)})
	time.Sleep(time.Second) // time for anything before the start time to show up
	p.stop(t)
	got, err := kcatRead(bootstrap, out, "%k %s\n")
	if err != nil {
		t.Fatal(err)
	}
	requireLines(t, out, got, want)
	t.Logf("start_from %s: exactly the %d records produced after it, in %v", at, len(want), time.Since(began).Round(time.Millisecond))
}
