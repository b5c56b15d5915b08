package e2e

// Per-record output failures (issue 11, item 1): a record an output cannot
// take (a NaN that JSON cannot hold, a record larger than the producer's
// batch) goes to the dead-letter output with its error; the records around
// it are written; under on_error: stop the run stops naming the record,
// and commits nothing of its batch.

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// ratioConfig maps {"a","b"} to {"ratio": a / b}: 0/0 is NaN.
func ratioConfig(in, out, onError, dead string) string {
	return fmt.Sprintf(`
name: ratios
input:
  file: { paths: [%q], codec: json_lines }
pipeline:
  processors:
    - map: { value: '{"ratio": value.a / value.b}' }
output:
  file: { path: %q, codec: json_lines }
on_error: %s
%s
http: { enabled: false }
`, in, out, onError, dead)
}

func TestUnencodableRecordIsDeadLettered(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in, out, dead := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "dead.jsonl")
	writeFile(t, in, []byte("{\"a\":1,\"b\":2}\n{\"a\":0,\"b\":0}\n{\"a\":3,\"b\":4}\n"))
	conf := writeConfig(t, ratioConfig(in, out, "dead_letter", fmt.Sprintf("dead_letter:\n  file: { path: %q, codec: envelope }\nstate: { dir: %q }", dead, filepath.Join(dir, "state"))))
	_, stderr, code := runPipeline(t, nil, "run", "-c", conf)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	if got, want := readLines(t, out), []string{`{"ratio":0.5}`, `{"ratio":0.75}`}; !slices.Equal(got, want) {
		t.Fatalf("output %q, want %q (the records around the NaN written)", got, want)
	}
	deadLines := readLines(t, dead)
	if len(deadLines) != 1 || !strings.Contains(deadLines[0], `"value":"{\"a\":0,\"b\":0}"`) ||
		!strings.Contains(deadLines[0], `"error":"value.ratio: NaN cannot be written as JSON"`) ||
		!strings.Contains(deadLines[0], `"error_source":"record at `+in+`:2"`) ||
		!strings.Contains(deadLines[0], `"error_component":"output"`) {
		t.Fatalf("dead letters %q, want the record as read, with the output's NaN error", deadLines)
	}
}

func TestUnencodableRecordUnderStopStops(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "out.jsonl")
	writeFile(t, in, []byte("{\"a\":1,\"b\":2}\n{\"a\":0,\"b\":0}\n{\"a\":3,\"b\":4}\n"))
	conf := writeConfig(t, ratioConfig(in, out, "stop", fmt.Sprintf("state: { dir: %q }", filepath.Join(dir, "state"))))
	_, stderr, code := runPipeline(t, nil, "run", "-c", conf)
	if code != 1 || !strings.Contains(stderr, "error: output: record at "+in+":2: value.ratio: NaN cannot be written as JSON\n") {
		t.Fatalf("exit %d, want 1 with the output's error naming the record:\n%s", code, stderr)
	}
	// Nothing of the batch was committed: a second run reads it again.
	_, stderr, code = runPipeline(t, nil, "run", "-c", conf)
	if code != 1 || !strings.Contains(stderr, in+":2:") {
		t.Fatalf("second run: exit %d, want the same failure on the same record:\n%s", code, stderr)
	}
}

// TestKafkaRecordTooLargeIsDeadLettered, on both brokers: a record larger
// than batch_max_bytes is rejected alone and dead-lettered, at least once
// and exactly once; the records around it reach the output topic.
func TestKafkaRecordTooLargeIsDeadLettered(t *testing.T) {
	t.Parallel()
	forEachKafka(t, func(t *testing.T, bootstrap string) {
		for _, guarantee := range []string{"at_least_once", "exactly_once"} {
			t.Run(guarantee, func(t *testing.T) {
				testKafkaRecordTooLarge(t, bootstrap, guarantee)
			})
		}
	})
}

func testKafkaRecordTooLarge(t *testing.T, bootstrap, guarantee string) {
	dir := t.TempDir()
	out, dead := kafkaTestName(t, "out"), kafkaTestName(t, "dead")
	watch := newProgress(t, bootstrap)
	watch.createTopicPartitions(t, out, 1)
	watch.createTopicPartitions(t, dead, 1)
	in := filepath.Join(dir, "in.txt")
	writeFile(t, in, []byte("small 1\n"+strings.Repeat("x", 100<<10)+"\nsmall 2\n"))
	conf := writeConfig(t, fmt.Sprintf(`
name: too-large-%[5]s
input:
  file: { paths: [%[1]q] }
pipeline:
  processors:
    - map: { value: 'value + "!"' }
output:
  kafka: { brokers: [%[2]q], topic: %[3]q, batch_max_bytes: 64KiB }
on_error: dead_letter
dead_letter:
  kafka: { brokers: [%[2]q], topic: %[4]q, batch_max_bytes: 1MiB }
processing_guarantee: %[5]s
state: { dir: %[6]q }
commit_interval: 50ms
http: { enabled: false }
`, in, bootstrap, out, dead, guarantee, filepath.Join(dir, "state")))
	if _, stderr, code := runPipeline(t, nil, "run", "-c", conf); code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	if got, want := committedLines(t, bootstrap, out, "%s\n"), []string{"small 1!", "small 2!"}; !slices.Equal(got, want) {
		t.Fatalf("%s holds %q, want %q", out, got, want)
	}
	deadLetters := committedLines(t, bootstrap, dead, "%S %h\n")
	if len(deadLetters) != 1 || !strings.HasPrefix(deadLetters[0], fmt.Sprint(100<<10)+" ") ||
		!strings.Contains(deadLetters[0], "more than the 65536 of batch_max_bytes") {
		t.Fatalf("%s holds %q, want the large record as read (102400 bytes) with its error", dead, deadLetters)
	}
}

// committedLines reads a whole topic as a read_committed consumer, in kcat's
// format.
func committedLines(t *testing.T, bootstrap, topic, format string) []string {
	t.Helper()
	out := strings.TrimSuffix(kcat(t, "", "-C", "-b", bootstrap, "-t", topic, "-X", "isolation.level=read_committed", "-e", "-q", "-f", format), "\n")
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	s := strings.TrimSuffix(string(readFile(t, path)), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
