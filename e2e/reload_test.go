package e2e

// Hot reload of the built binary (`pipeline run --watch`): the ways a config
// file changes on disk, a config that is wrong, and swaps of Kafka pipelines
// at-least-once and exactly-once, read back with kcat.

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tagConfig writes "<tag>-<n>" for n = 0, 1, 2, … to out, a line every
// 2 ms, from the generate input (which continues its count across reloads
// and restarts: its position is kept in the state directory beside out).
func tagConfig(tag, out string) string {
	return fmt.Sprintf(`# yaml-language-server: $schema=../schema/pipeline.schema.json
name: reload-e2e
input:
  generate: { value: 'meta.offset', interval: 2ms }
pipeline:
  processors:
    - map: { value: '"%s-" + string(value)' }
output:
  file: { path: %q }
state: { dir: %q }
http: { enabled: false }
`, tag, out, filepath.Join(filepath.Dir(out), "state"))
}

// taggedLines reads the output file.
func taggedLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	s := strings.TrimSuffix(string(data), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// awaitOutputTag waits until the last line written carries tag.
func awaitOutputTag(t *testing.T, p *bgPipeline, out, tag string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		lines := taggedLines(t, out)
		if len(lines) > 0 && strings.HasPrefix(lines[len(lines)-1], tag+"-") {
			return
		}
		if p.exited() {
			t.Fatalf("the pipeline exited:\n%s", p.stderr())
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s- line after 15s; the last lines are %q\n%s", tag, lines[max(0, len(lines)-3):], p.stderr())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// awaitGrowth waits until the output has grown by n lines.
func awaitGrowth(t *testing.T, p *bgPipeline, out string, n int) {
	t.Helper()
	before := len(taggedLines(t, out))
	deadline := time.Now().Add(15 * time.Second)
	for len(taggedLines(t, out)) < before+n {
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("the output did not grow by %d lines:\n%s", n, p.stderr())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// requireTagBlocks wants the numbers 0, 1, 2, … without gap or repeat and
// the tags in blocks, in the given order, each present.
func requireTagBlocks(t *testing.T, lines []string, tags ...string) {
	t.Helper()
	block, seen := 0, map[string]bool{}
	for i, line := range lines {
		dash := strings.LastIndexByte(line, '-')
		tag, n := line[:max(dash, 0)], line[dash+1:]
		if n != strconv.Itoa(i) {
			t.Fatalf("line %d is %q, want number %d: a record was lost or repeated across a reload", i+1, line, i)
		}
		for block < len(tags) && tag != tags[block] {
			block++
		}
		if block == len(tags) {
			t.Fatalf("line %d is %q: the tags are not in blocks %v", i+1, line, tags)
		}
		seen[tag] = true
	}
	for _, tag := range tags {
		if !seen[tag] {
			t.Fatalf("no line of %s: blocks %v", tag, tags)
		}
	}
}

// TestReloadOnFileChanges runs `pipeline run --watch` and changes its config
// file as editors and people do: an editor's write-and-rename, an in-place
// write, a touch (nothing happens), a deletion (the pipeline goes on) and a
// re-creation, an invalid file (the pipeline goes on, the error has line and
// column) and its fix. The output's numbers never skip or repeat, and each
// config's lines form one block.
func TestReloadOnFileChanges(t *testing.T) {
	t.Parallel()
	dir, outDir := t.TempDir(), t.TempDir()
	cfg, out := filepath.Join(dir, "pipeline.yaml"), filepath.Join(outDir, "out.txt")
	write := func(path, text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(cfg, tagConfig("first", out))
	p := startPipelineArgs(t, nil, "run", "-c", cfg, "--watch")
	awaitOutputTag(t, p, out, "first")

	// An editor: a new file beside it, renamed over it.
	write(filepath.Join(dir, ".pipeline.yaml.tmp"), tagConfig("renamed", out))
	if err := os.Rename(filepath.Join(dir, ".pipeline.yaml.tmp"), cfg); err != nil {
		t.Fatal(err)
	}
	awaitOutputTag(t, p, out, "renamed")

	// In place: truncated and written.
	f, err := os.OpenFile(cfg, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(tagConfig("in-place", out)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	awaitOutputTag(t, p, out, "in-place")

	// A touch and a rewrite of the same bytes: no reload.
	reloads := strings.Count(p.stderr(), "reload: the new config runs")
	now := time.Now()
	if err := os.Chtimes(cfg, now, now); err != nil {
		t.Fatal(err)
	}
	write(cfg, tagConfig("in-place", out))
	awaitGrowth(t, p, out, 200) // more than a debounce later
	if got := strings.Count(p.stderr(), "reload: the new config runs"); got != reloads {
		t.Fatalf("a touch reloaded the pipeline (%d reloads, %d before):\n%s", got, reloads, p.stderr())
	}

	// Deleted: the pipeline goes on; re-created: it reloads.
	if err := os.Remove(cfg); err != nil {
		t.Fatal(err)
	}
	awaitGrowth(t, p, out, 200)
	if !strings.Contains(p.stderr(), "the config file cannot be read; the running pipeline goes on") {
		t.Fatalf("a deleted config is not reported:\n%s", p.stderr())
	}
	write(cfg, tagConfig("recreated", out))
	awaitOutputTag(t, p, out, "recreated")

	// Invalid: the running pipeline goes on and the log names line and
	// column; the fix applies.
	write(cfg, strings.Replace(tagConfig("broken", out), "interval: 2ms", "interval: soon", 1))
	awaitGrowth(t, p, out, 200)
	want := cfg + ":4:47: input.generate.interval: "
	if !strings.Contains(p.stderr(), want) {
		t.Fatalf("the log does not report the invalid file as %q:\n%s", want, p.stderr())
	}
	if lines := taggedLines(t, out); !strings.HasPrefix(lines[len(lines)-1], "recreated-") {
		t.Fatalf("after an invalid file the output is %q, want the running config's", lines[len(lines)-1])
	}
	write(cfg, tagConfig("fixed", out))
	awaitOutputTag(t, p, out, "fixed")

	p.stop(t)
	requireTagBlocks(t, taggedLines(t, out), "first", "renamed", "in-place", "recreated", "fixed")
	t.Logf("5 reloads, %d lines, no gap and no repeat; the invalid file was reported as %s…", len(taggedLines(t, out)), want)
}

// kafkaReloadConfig is kafka → map (tagging each value) → kafka.
func kafkaReloadConfig(bootstrap, in, out, group, tag, guarantee string) string {
	return fmt.Sprintf(`
name: %[3]s
processing_guarantee: %[6]s
input:
  kafka:
    brokers: [%[1]q]
    topics: [%[2]q]
    codec: json
    instance_id: e2e
    session_timeout: 6s
pipeline:
  processors:
    - map: { set: { tag: '%[5]q' } }
output:
  kafka: { brokers: [%[1]q], topic: %[4]q }
commit_interval: 100ms
http: { enabled: false }
`, bootstrap, in, group, out, tag, guarantee)
}

// TestReloadKafkaSwap swaps a Kafka pipeline's map while records keep
// arriving, at-least-once and exactly-once: read back with kcat
// (read_committed), every input record's result is there exactly once, and
// in each partition the old config's results all come before the new one's.
func TestReloadKafkaSwap(t *testing.T) {
	t.Parallel()
	for _, guarantee := range []string{"at_least_once", "exactly_once"} {
		t.Run(guarantee, func(t *testing.T) {
			t.Parallel()
			forEachKafka(t, func(t *testing.T, bootstrap string) { testReloadKafkaSwap(t, bootstrap, guarantee) })
		})
	}
}

func testReloadKafkaSwap(t *testing.T, bootstrap, guarantee string) {
	in, out, group := kafkaTestName(t, "in"), kafkaTestName(t, "out"), kafkaTestName(t, "group")
	watch := newProgress(t, bootstrap)
	watch.createTopic(t, in)
	watch.createTopic(t, out)
	cfg := writeConfig(t, kafkaReloadConfig(bootstrap, in, out, group, "old", guarantee))
	p := startPipelineArgs(t, nil, "run", "-c", cfg, "--watch")

	const chunk, chunks = 2000, 6
	produced := 0
	produce := func() {
		lines, _ := faultRecords(produced, produced+chunk)
		kcatProduce(t, bootstrap, in, lines)
		produced += chunk
	}
	for i := range chunks {
		produce()
		if i == 2 {
			// Reloaded in the middle, once the old config has written
			// results: the records of the next chunks arrive while it
			// swaps.
			watch.awaitMoreThan(t, p, out, 0)
			if err := os.WriteFile(cfg, []byte(kafkaReloadConfig(bootstrap, in, out, group, "new", guarantee)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	awaitCommitted(t, watch, p, group, int64(produced))
	if !strings.Contains(p.stderr(), "reload: the new config runs") {
		t.Fatalf("the pipeline did not reload:\n%s", p.stderr())
	}
	p.stop(t)

	// Partition, key and value of every result, read_committed, in order.
	lines := strings.Split(strings.TrimSuffix(kcat(t, "", "-C", "-b", bootstrap, "-t", out,
		"-X", "isolation.level=read_committed", "-e", "-q", "-f", "%p %k %s\n"), "\n"), "\n")
	seen := map[string]int{}
	newSeen := map[string]bool{}
	tags := map[string]int{}
	for _, line := range lines {
		part, rest, _ := strings.Cut(line, " ")
		key, value, _ := strings.Cut(rest, " ")
		seen[key]++
		tag := "new"
		if strings.Contains(value, `"tag":"old"`) {
			tag = "old"
			if newSeen[part] {
				t.Fatalf("partition %s: a result of the old config after one of the new: %q", part, line)
			}
		} else if !strings.Contains(value, `"tag":"new"`) {
			t.Fatalf("result %q has no tag", line)
		}
		newSeen[part] = newSeen[part] || tag == "new"
		tags[tag]++
	}
	for i := range produced {
		if n := seen[fmt.Sprintf("k%d", i)]; n != 1 {
			t.Fatalf("the result of input k%d is there %d times, want exactly once (%d results for %d inputs)", i, n, len(lines), produced)
		}
	}
	if tags["old"] == 0 || tags["new"] == 0 {
		t.Fatalf("results by config %v: the swap did not happen mid-stream", tags)
	}
	t.Logf("%s: %d inputs, each result exactly once (%d by the old config, %d by the new); per partition the old ones first", guarantee, produced, tags["old"], tags["new"])
}

// TestReloadKeepsState reloads pipelines/wordcount-kafka.yaml with only its
// output topic changed: the running counts go on in the new topic where
// they stopped in the old one (the aggregate's definition did not change, so
// its state is kept). Then the aggregate itself changes (counts kept under
// another name): its state starts fresh.
func TestReloadKeepsState(t *testing.T) {
	t.Parallel()
	forEachKafka(t, testReloadKeepsState)
}

func testReloadKeepsState(t *testing.T, bootstrap string) {
	in, name := kafkaTestName(t, "text"), kafkaTestName(t, "wordcount")
	first, second, third := kafkaTestName(t, "counts1"), kafkaTestName(t, "counts2"), kafkaTestName(t, "counts3")
	watch := newProgress(t, bootstrap)
	watch.createTopicPartitions(t, in, 1)
	example, err := os.ReadFile(filepath.Join(repoRoot, "pipelines", "wordcount-kafka.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "wordcount-kafka.yaml")
	writeExample := func(outTopic, countField string) {
		t.Helper()
		text := strings.ReplaceAll(string(example), "word-counts", outTopic)
		text = strings.ReplaceAll(text, "text-input", in)
		text = strings.Replace(text, "name: wordcount-kafka", "name: "+name, 1)
		text = strings.ReplaceAll(text, "count: 'count()'", countField+": 'count()'")
		text = strings.ReplaceAll(text, "string(value.count)", "string(value."+countField+")")
		if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeExample(first, "count")
	p := startPipelineArgs(t, []string{"KAFKA_BROKERS=" + bootstrap, "STATE_DIR=" + t.TempDir()},
		"run", "-c", cfg, "--watch", "-s", "commit_interval=100ms")
	lastCount := func(topic, word string) int {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			last := -1
			for _, line := range kcatLines(t, bootstrap, topic, "%k %s\n") {
				if w, n, _ := strings.Cut(line, " "); w == word {
					last, _ = strconv.Atoi(n)
				}
			}
			if last >= 0 {
				return last
			}
			if p.exited() || time.Now().After(deadline) {
				t.Fatalf("no count of %q in %s:\n%s", word, topic, p.stderr())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	kcat(t, "kafka streams\nkafka connect\n", "-P", "-b", bootstrap, "-t", in)
	awaitCommitted(t, watch, p, name, 2)
	if got := lastCount(first, "kafka"); got != 2 {
		t.Fatalf("kafka counted %d in %s, want 2", got, first)
	}

	writeExample(second, "count")
	waitLogged(t, p, "reload: the new config runs", 1)
	kcat(t, "kafka again\n", "-P", "-b", bootstrap, "-t", in)
	if got := lastCount(second, "kafka"); got != 3 {
		t.Fatalf("after a reload that changed only the output, kafka is counted %d in %s, want 3 (the count goes on)", got, second)
	}

	writeExample(third, "n")
	waitLogged(t, p, "reload: the new config runs", 2)
	kcat(t, "kafka once more\n", "-P", "-b", bootstrap, "-t", in)
	if got := lastCount(third, "kafka"); got != 1 {
		t.Fatalf("after a reload that changed the aggregate, kafka is counted %d in %s, want 1 (fresh state)", got, third)
	}
	if !strings.Contains(p.stderr(), "the definition of a stateful component changed: its state starts fresh") {
		t.Fatalf("the fresh start is not logged:\n%s", p.stderr())
	}
	p.stop(t)
}

// waitLogged waits until the pipeline has logged msg n times.
func waitLogged(t *testing.T, p *bgPipeline, msg string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(p.stderr(), msg) < n {
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("%q was not logged %d times:\n%s", msg, n, p.stderr())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReloadOnSIGHUP: without --watch a changed file is left alone until
// the process gets SIGHUP.
func TestReloadOnSIGHUP(t *testing.T) {
	t.Parallel()
	cfg, out := filepath.Join(t.TempDir(), "pipeline.yaml"), filepath.Join(t.TempDir(), "out.txt")
	if err := os.WriteFile(cfg, []byte(tagConfig("before", out)), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startPipelineArgs(t, nil, "run", "-c", cfg)
	awaitOutputTag(t, p, out, "before")
	if err := os.WriteFile(cfg, []byte(tagConfig("after", out)), 0o644); err != nil {
		t.Fatal(err)
	}
	awaitGrowth(t, p, out, 300) // 600 ms, more than a debounce: nothing watches
	if lines := taggedLines(t, out); !strings.HasPrefix(lines[len(lines)-1], "before-") {
		t.Fatalf("without --watch the file change was applied: %q", lines[len(lines)-1])
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	awaitOutputTag(t, p, out, "after")
	p.stop(t)
	requireTagBlocks(t, taggedLines(t, out), "before", "after")
	if !strings.Contains(p.stderr(), `msg="reload requested" signal=hangup`) {
		t.Fatalf("the SIGHUP is not logged:\n%s", p.stderr())
	}
}
