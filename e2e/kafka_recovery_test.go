package e2e

// Crash recovery in seconds, on both brokers: pipelines/wordcount-kafka.yaml
// under exactly_once, with nothing but topics, brokers and the state
// directory overridden (so the input is a group member as by default), is
// killed with SIGKILL four times shortly after each start, as a crash loop
// or an impatient operator would, and started a fifth time. From that start
// its read_committed output must hold the complete, exact counts within
// recoveryTarget: the restart waits neither for the members the kills left
// in the group nor for the transactions they left open.

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	recoveryLines  = 60_000
	recoveryKills  = 4
	recoveryTarget = 10 * time.Second
	// recoveryGiveUp ends a run that has not recovered long after the
	// target, so that a slow recovery fails in a minute, not in three.
	recoveryGiveUp = 45 * time.Second
)

// TestExactlyOnceRecoversInSecondsAfterSIGKILLs measures, a few times per
// broker (once per run under STRESS, which make stress runs 20 times), the
// time from the last start to the complete
// output, and logs its distribution. It does not run in parallel with the
// package's other tests: the bound is on a restart's recovery, most of it
// the 60k lines' processing, and on two shared cores the other tests'
// pipelines would take the processing's place.
func TestExactlyOnceRecoversInSecondsAfterSIGKILLs(t *testing.T) {
	forEachKafka(t, func(t *testing.T, bootstrap string) {
		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
		runs := stressed(3, 1) // make stress runs it 20 times
		var took []time.Duration
		defer func() { t.Logf("%d of %d runs: %s", len(took), runs, describeDurations(took)) }()
		for run := 1; run <= runs; run++ {
			d, ok := recoverAfterSIGKILLs(t, bootstrap, rng)
			took = append(took, d)
			if !ok {
				return
			}
		}
	})
}

// recoverAfterSIGKILLs is one run on topics of its own: it reports how long
// the output took to become complete after the last start, and whether that
// was within the target and the counts exact.
func recoverAfterSIGKILLs(t *testing.T, bootstrap string, rng *rand.Rand) (time.Duration, bool) {
	t.Helper()
	in, out, name := kafkaTestName(t, "text"), kafkaTestName(t, "counts"), kafkaTestName(t, "wordcount")
	watch := newProgress(t, bootstrap)
	watch.createTopicPartitions(t, in, 1) // as the example creates it: counts are per partition
	text, want := wordcountText(rng, recoveryLines)
	kcat(t, strings.Join(text, "\n")+"\n", "-P", "-b", bootstrap, "-t", in)
	counts := watchCounts(t, bootstrap, out)

	args := []string{"run", "-c", "pipelines/wordcount-kafka.yaml", "-s", "processing_guarantee=exactly_once",
		"-s", "name=" + name, "-s", "input.kafka.topics.0=" + in, "-s", "output.kafka.topic=" + out, "-s", "state.dir=" + t.TempDir()}
	start := func() *bgPipeline { return startPipelineArgs(t, []string{"KAFKA_BROKERS=" + bootstrap}, args...) }
	var kills []string
	for range recoveryKills {
		p := start()
		after := time.Duration(100+rng.IntN(800)) * time.Millisecond
		time.Sleep(after)
		if err := p.cmd.Process.Kill(); err != nil {
			<-p.done
			t.Errorf("killing the run started after %s: %v (%v):\n%s", strings.Join(kills, ", "), err, p.err, p.stderr())
			return 0, false
		}
		<-p.done
		kills = append(kills, after.String())
	}
	atLastStart := counts.describeMissing(want)
	started := time.Now()
	last := start()
	took, complete := counts.awaitComplete(last, want, started, recoveryGiveUp)
	if !complete {
		t.Errorf("killed after %s: the counts were not complete %v after the last start (at it: %s; now: %s):\n%s",
			strings.Join(kills, ", "), took.Round(time.Millisecond), atLastStart, counts.describeMissing(want), lastLines(last.stderr(), 30))
		return took, false
	}
	awaitStarting(t, last)
	last.stop(t)
	if !exactCounts(t, bootstrap, out, want) {
		return took, false
	}
	if took > recoveryTarget {
		t.Errorf("killed after %s: the counts were complete %v after the last start (at it: %s), want at most %v:\n%s",
			strings.Join(kills, ", "), took.Round(time.Millisecond), atLastStart, recoveryTarget, lastLines(last.stderr(), 30))
		return took, false
	}
	t.Logf("killed after %s: at the last start %s; the first counts %v and all, exact, %v after it",
		strings.Join(kills, ", "), atLastStart, counts.firstAfter(started).Round(time.Millisecond), took.Round(time.Millisecond))
	return took, true
}

// awaitStarting waits until p handles signals (it logged that it starts),
// so that a SIGTERM drains it.
func awaitStarting(t *testing.T, p *bgPipeline) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(p.stderr(), "pipeline starting"); time.Sleep(10 * time.Millisecond) {
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("the pipeline did not start:\n%s", p.stderr())
		}
	}
}

// wordcountText is n lines of one to eight words of a small vocabulary
// (with case variants the pipeline folds), and each word's count, lower
// case.
func wordcountText(rng *rand.Rand, n int) ([]string, map[string]int) {
	vocabulary := make([]string, 0, 154)
	for i := range 150 {
		vocabulary = append(vocabulary, fmt.Sprintf("w%03d", i))
	}
	vocabulary = append(vocabulary, "Kafka", "kafka", "STRASSE", "straße")
	want := map[string]int{}
	lines := make([]string, n)
	for i := range lines {
		words := make([]string, 1+rng.IntN(8))
		for j := range words {
			words[j] = vocabulary[rng.IntN(len(vocabulary))]
			want[strings.ToLower(words[j])]++
		}
		lines[i] = strings.Join(words, " ")
	}
	return lines, want
}

// countsWatch follows an output of running counts as a read_committed
// consumer: the highest count seen of each word.
type countsWatch struct {
	mu      sync.Mutex
	highest map[string]int
	changed chan struct{} // closed and replaced on every poll that brought records
	polled  []time.Time   // when polls brought records
}

func watchCounts(t *testing.T, bootstrap, topic string) *countsWatch {
	t.Helper()
	w := &countsWatch{highest: map[string]int{}, changed: make(chan struct{})}
	followCommitted(t, bootstrap, topic, func(fetches kgo.Fetches) {
		if fetches.NumRecords() == 0 {
			return
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		fetches.EachRecord(func(r *kgo.Record) {
			if n, err := strconv.Atoi(string(r.Value)); err == nil {
				w.highest[string(r.Key)] = max(w.highest[string(r.Key)], n)
			}
		})
		close(w.changed)
		w.changed = make(chan struct{})
		w.polled = append(w.polled, time.Now())
	})
	return w
}

// complete reports whether every word reached its count, and returns the
// channel closed on the next change.
func (w *countsWatch) complete(want map[string]int) (bool, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for word, n := range want {
		if w.highest[word] < n {
			return false, w.changed
		}
	}
	return true, w.changed
}

// awaitComplete waits until every count is complete, or p exited, or
// giveUp passed since since; it returns the time since since.
func (w *countsWatch) awaitComplete(p *bgPipeline, want map[string]int, since time.Time, giveUp time.Duration) (time.Duration, bool) {
	deadline := time.After(time.Until(since.Add(giveUp)))
	for {
		complete, changed := w.complete(want)
		if complete {
			return time.Since(since), true
		}
		select {
		case <-changed:
		case <-p.done:
			return time.Since(since), false
		case <-deadline:
			return time.Since(since), false
		}
	}
}

// firstAfter is how long after since the first counts came.
func (w *countsWatch) firstAfter(since time.Time) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, at := range w.polled {
		if at.After(since) {
			return at.Sub(since)
		}
	}
	return -1
}

// describeMissing says how far the counts got.
func (w *countsWatch) describeMissing(want map[string]int) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	done, have, total := 0, 0, 0
	for word, n := range want {
		if w.highest[word] >= n {
			done++
		}
		have += min(w.highest[word], n)
		total += n
	}
	return fmt.Sprintf("%d of %d words complete, %d of %d occurrences counted", done, len(want), have, total)
}

// exactCounts reads the output read_committed with kcat: every word's
// counts must be exactly 1, 2, …, its count, in order.
func exactCounts(t *testing.T, bootstrap, topic string, want map[string]int) bool {
	t.Helper()
	updates := map[string][]int{}
	for _, line := range kcatLinesCommitted(t, bootstrap, topic) {
		word, count, _ := strings.Cut(line, " ")
		n, err := strconv.Atoi(count)
		if err != nil {
			t.Errorf("%s: record %q: the value is not a count", topic, line)
			return false
		}
		updates[word] = append(updates[word], n)
	}
	if len(updates) != len(want) {
		t.Errorf("%d words counted, want %d", len(updates), len(want))
		return false
	}
	for word, n := range want {
		seq := updates[word]
		for i, c := range seq {
			if c != i+1 || len(seq) != n {
				t.Errorf("the counts written for %q are %v, want exactly 1..%d", word, firstInts(seq, 20), n)
				return false
			}
		}
	}
	return true
}

// describeDurations is the minimum, median and maximum of ds, and all of
// them in order of the runs.
func describeDurations(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	round := func(d time.Duration) string { return d.Round(10 * time.Millisecond).String() }
	all := make([]string, len(ds))
	for i, d := range ds {
		all[i] = round(d)
	}
	return fmt.Sprintf("min %s, median %s, max %s (runs: %s)", round(sorted[0]), round(sorted[len(sorted)/2]), round(sorted[len(sorted)-1]),
		strings.Join(all, " "))
}
