package e2e

// Shutdown always ends (issue 11, item 4): SIGTERM ends the process within
// shutdown_timeout and a second, whatever its inputs and outputs do — a
// file input on a named pipe without a writer or with an idle one, a file
// output on a pipe without a reader or whose reader stalls, exactly-once
// writes to a broker that stopped answering — and what could not be
// written is not committed.

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/internal/fifo/fifotest"
)

const shutdownTimeout = 2 * time.Second

// sigtermWithin sends SIGTERM once the pipeline runs (after settle) and
// wants it gone within shutdown_timeout and a second; it returns stderr.
func sigtermWithin(t *testing.T, p *bgPipeline, settle time.Duration) string {
	t.Helper()
	time.Sleep(settle)
	if p.exited() {
		t.Fatalf("the pipeline exited before SIGTERM:\n%s", p.stderr())
	}
	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	limit := shutdownTimeout + time.Second
	select {
	case <-p.done:
		t.Logf("exited %s after SIGTERM (limit %s): %v", time.Since(sent).Round(time.Millisecond), limit, p.err)
	case <-time.After(limit + 5*time.Second):
		t.Fatalf("the pipeline was still running %s after SIGTERM (shutdown_timeout %s):\n%s", limit+5*time.Second, shutdownTimeout, p.stderr())
	}
	if took := time.Since(sent); took > limit {
		t.Fatalf("the pipeline ended %s after SIGTERM, more than shutdown_timeout (%s) and a second:\n%s", took, shutdownTimeout, p.stderr())
	}
	return p.stderr()
}

func fileToFileConfig(t *testing.T, dir, in, out string) string {
	return writeConfig(t, fmt.Sprintf(`
name: fifo
input:
  file: { paths: [%q] }
output:
  file: { path: %q }
shutdown_timeout: %s
state: { dir: %q }
http: { enabled: false }
`, in, out, shutdownTimeout, filepath.Join(dir, "state")))
}

func TestSIGTERMEndsWithFIFOInputWithoutWriter(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startPipeline(t, fileToFileConfig(t, dir, fifotest.Make(t, dir, "in"), filepath.Join(dir, "out.txt")))
	sigtermWithin(t, p, time.Second)
	if p.err != nil {
		t.Fatalf("nothing was read, nothing is lost: want exit 0, got %v\n%s", p.err, p.stderr())
	}
}

func TestSIGTERMEndsWithIdleFIFOWriter(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in, out := fifotest.Make(t, dir, "in"), filepath.Join(dir, "out.txt")
	p := startPipeline(t, fileToFileConfig(t, dir, in, out))
	w, err := os.OpenFile(in, os.O_WRONLY, 0) // waits for the pipeline's open
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	fmt.Fprint(w, "one\ntwo\n") // then idle, the pipe open
	sigtermWithin(t, p, time.Second)
	if p.err != nil {
		t.Fatalf("want exit 0, got %v\n%s", p.err, p.stderr())
	}
	if got := string(readFile(t, out)); got != "one\ntwo\n" {
		t.Fatalf("what was read before the stop is written: got %q", got)
	}
}

func TestSIGTERMEndsWithFIFOOutputWithoutReader(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	writeFile(t, in, []byte("a\nb\n"))
	p := startPipeline(t, fileToFileConfig(t, dir, in, fifotest.Make(t, dir, "out")))
	sigtermWithin(t, p, time.Second)
	if p.err != nil {
		t.Fatalf("stopped while starting, nothing read: want exit 0, got %v\n%s", p.err, p.stderr())
	}
}

func TestSIGTERMEndsWithStalledFIFOReader(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.txt"), fifotest.Make(t, dir, "out")
	writeFile(t, in, []byte(strings.Repeat(strings.Repeat("x", 1000)+"\n", 2000)))
	conf := fileToFileConfig(t, dir, in, out)
	p := startPipeline(t, conf)
	r, err := os.Open(out) // a reader that never reads
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	stderr := sigtermWithin(t, p, time.Second)
	if p.err == nil || !strings.Contains(stderr, "drain did not finish within shutdown_timeout (2s)") {
		t.Fatalf("want exit 1 naming the abandoned drain, got %v\n%s", p.err, stderr)
	}
	// Nothing unwritten was committed: a run with a reader gets every line.
	r.Close()
	got := make(chan int, 1)
	go func() {
		f, err := os.Open(out)
		if err != nil {
			got <- -1
			return
		}
		defer f.Close()
		b, _ := readAllLines(f)
		got <- b
	}()
	if _, stderr, code := runPipeline(t, nil, "run", "-c", conf); code != 0 {
		t.Fatalf("second run: exit %d\n%s", code, stderr)
	}
	if n := <-got; n != 2000 {
		t.Fatalf("the second run wrote %d lines, want all 2000: the stalled ones were not committed", n)
	}
}

// TestExactlyOnceSIGTERMEndsWhileWritesHang stops `pipeline broker` with
// SIGSTOP under an exactly-once file → kafka pipeline, so that its writes
// hang; SIGTERM must still end the process in time, committing nothing
// that was not written.
func TestExactlyOnceSIGTERMEndsWhileWritesHang(t *testing.T) {
	t.Parallel()
	broker := newDevBroker(t)
	dir := t.TempDir()
	topic := kafkaTestName(t, "out")
	conf := writeConfig(t, fmt.Sprintf(`
name: hang
input:
  generate: { value: '"line-" + string(meta.offset)', interval: 1ms }
output:
  kafka: { brokers: [%q], topic: %q }
processing_guarantee: exactly_once
shutdown_timeout: %s
state: { dir: %q }
http: { enabled: false }
`, broker.Bootstrap, topic, shutdownTimeout, filepath.Join(dir, "state")))
	p := startPipeline(t, conf)
	watch := newProgress(t, broker.Bootstrap)
	for deadline := time.Now().Add(60 * time.Second); watch.records(topic) < 300; time.Sleep(50 * time.Millisecond) {
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("nothing reached %s:\n%s", topic, p.stderr())
		}
	}
	atStop := int(watch.records(topic))
	if err := broker.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	sigtermWithin(t, p, 300*time.Millisecond)
	if err := broker.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if p.err == nil {
		t.Fatalf("writes hung: the exit must say what was abandoned, got exit 0\n%s", p.stderr())
	}
	// Nothing unwritten was committed: the next run goes on from the last
	// commit, and the topic holds line-0, line-1, … each exactly once.
	// (Read once it runs: until it fences the stopped run's transaction,
	// a read_committed reader waits behind it.)
	p = startPipeline(t, conf)
	for deadline := time.Now().Add(60 * time.Second); int(watch.records(topic)) < atStop+1000; time.Sleep(100 * time.Millisecond) {
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("the second run did not go on:\n%s", p.stderr())
		}
	}
	p.stop(t)
	lines := committedLines(t, broker.Bootstrap, topic, "%s\n")
	seen := map[string]int{}
	for _, line := range lines {
		seen[line]++
	}
	for i := range lines { // the topic's partitions interleave the lines
		if line := fmt.Sprintf("line-%d", i); seen[line] != 1 {
			t.Fatalf("%s is in the topic %d times (read_committed, %d records), want once: each line once, none missing", line, seen[line], len(lines))
		}
	}
	t.Logf("%d records in the topic when the broker stopped; %d lines committed after the restart, each once", atStop, len(lines))
}

func readAllLines(f *os.File) (int, error) {
	b, err := io.ReadAll(f)
	return strings.Count(string(b), "\n"), err
}
