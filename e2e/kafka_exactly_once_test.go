package e2e

// The exactly-once proof on the real broker: a pipeline under
// processing_guarantee: exactly_once is killed with SIGKILL at random moments
// 20 times while it works through 200k input records, and restarted each
// time. After a last run drains, a read_committed kcat read of its output
// equals that of one uninterrupted reference run over the same input,
// record for record: nothing duplicated, nothing lost. For the stateful
// pipeline the state is compared too: the changelog topics (what a restore
// reads) and the local state directories hold the same entries.

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipelinehq/pipeline/statestore"
)

// eosEpoch is the event time of the first input record: recent, because
// window results carry their window's end as their Kafka timestamp, and
// the broker deletes records older than its retention (7 days).
var eosEpoch = time.Now().UnixMilli() / eosWindow * eosWindow

const (
	eosRecords = 200_000
	eosKills   = 20
	eosKeys    = 60
	// Event time advances 10 ms per record: a 10 s window holds 1000
	// records of all keys.
	eosTimeStep = 10
	eosWindow   = 10_000
)

// eosCase is one pipeline of the proof.
type eosCase struct {
	name string
	// config is the pipeline for one instance; the reference and the
	// killed runs differ only by the names given.
	config func(r eosRun) string
	// check verifies the reference output against an independent
	// computation over the input.
	check    func(t *testing.T, lines []string)
	stateful bool
}

// eosRun names what belongs to one run of a case: its own pipeline name (so
// its own changelog topics), group, transactional id, output and state.
type eosRun struct {
	bootstrap, name, in, out, group, txnID, stateDir string
}

func (r eosRun) inputYAML() string {
	return fmt.Sprintf(`
name: %[2]q
processing_guarantee: exactly_once
exactly_once: { transactional_id: %[6]q, max_records: 2000 }
input:
  kafka:
    brokers: [%[1]q]
    topics: [%[3]q]
    consumer_group: %[5]q
    instance_id: e2e-instance
    session_timeout: 6s
    codec: json
    batch_size: 200
output:
  kafka:
    brokers: [%[1]q]
    topic: %[4]q
state: { dir: %[7]q }
http: { enabled: false }
`, r.bootstrap, r.name, r.in, r.out, r.group, r.txnID, r.stateDir)
}

var eosCases = []eosCase{
	{
		name: "stateless-map",
		config: func(r eosRun) string {
			return r.inputYAML() + `
pipeline:
  processors:
    - map: { set: { doubled: 'value.n * 2' } }
`
		},
		check: func(t *testing.T, lines []string) {
			want := make([]string, 0, eosRecords)
			for i := range eosRecords {
				want = append(want, fmt.Sprintf(`k%02d {"doubled":%d,"n":%d,"ts":%d}`, i%eosKeys, 2*i, i, eosEpoch+int64(i*eosTimeStep)))
			}
			requireLines(t, "reference output", lines, want)
		},
	},
	{
		name:     "windowed-count-on-close",
		stateful: true,
		config: func(r eosRun) string {
			return r.inputYAML() + fmt.Sprintf(`
pipeline:
  processors:
    - aggregate:
        key: key
        key_field: key
        ops: { n: 'count()', total: 'sum(value.n)' }
        window: { type: tumbling, size: %dms }
        timestamp: value.ts
        emit: on_close
`, eosWindow)
		},
		check: checkWindowCounts,
	},
}

// checkWindowCounts checks every closed window's count and total against
// the input, and that the windows not emitted are only the last ones of
// each key (still open when the input ended).
func checkWindowCounts(t *testing.T, lines []string) {
	t.Helper()
	type window struct {
		key   string
		start int64
	}
	n, total := map[window]int64{}, map[window]int64{}
	for i := range eosRecords {
		w := window{fmt.Sprintf("k%02d", i%eosKeys), eosEpoch + int64(i*eosTimeStep)/eosWindow*eosWindow}
		n[w]++
		total[w] += int64(i)
	}
	emitted := map[window]bool{}
	for _, line := range lines {
		_, value, _ := strings.Cut(line, " ")
		var r struct {
			Key         string
			WindowStart int64 `json:"window_start"`
			WindowEnd   int64 `json:"window_end"`
			N, Total    int64
		}
		if err := json.Unmarshal([]byte(value), &r); err != nil {
			t.Fatalf("reference output %q: %v", line, err)
		}
		w := window{r.Key, r.WindowStart}
		if emitted[w] {
			t.Fatalf("reference output: window %v emitted twice", w)
		}
		emitted[w] = true
		if r.WindowEnd != r.WindowStart+eosWindow || r.N != n[w] || r.Total != total[w] {
			t.Fatalf("reference output %q: want n=%d total=%d end=%d", line, n[w], total[w], r.WindowStart+eosWindow)
		}
	}
	lastStart := eosEpoch + int64((eosRecords-1)*eosTimeStep)/eosWindow*eosWindow
	for w := range n {
		// Stream time is per input partition: the last window, and the
		// one before it on a partition whose stream time has not passed
		// its end, may still be open.
		if !emitted[w] && w.start < lastStart-eosWindow {
			t.Fatalf("reference output: window %v (n=%d) was never emitted", w, n[w])
		}
	}
	if len(emitted) < len(n)-2*eosKeys {
		t.Fatalf("reference output: %d windows emitted of %d", len(emitted), len(n))
	}
}

// eosInput is record i as a kcat key:value line.
func eosInput(i int) string {
	return fmt.Sprintf(`k%02d:{"n":%d,"ts":%d}`, i%eosKeys, i, eosEpoch+int64(i*eosTimeStep))
}

// TestExactlyOnceSIGKILL is the proof, for a stateless and a stateful
// pipeline, on the real broker.
func TestExactlyOnceSIGKILL(t *testing.T) {
	t.Parallel()
	bootstrap := startKafka(t)
	for _, c := range eosCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			testExactlyOnceSIGKILL(t, bootstrap, c)
		})
	}
}

func testExactlyOnceSIGKILL(t *testing.T, bootstrap string, c eosCase) {
	in := kafkaTestName(t, "in")
	watch := newProgress(t, bootstrap)
	watch.createTopic(t, in)
	newRun := func(role string) eosRun {
		r := eosRun{bootstrap: bootstrap, in: in, name: kafkaTestName(t, role), out: kafkaTestName(t, role+"-out"),
			group: kafkaTestName(t, role+"-group"), txnID: kafkaTestName(t, role+"-txn"), stateDir: t.TempDir()}
		watch.createTopic(t, r.out)
		return r
	}
	killed := newRun("killed")
	killedCfg := writeConfig(t, c.config(killed))
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	began := time.Now()

	// The whole input first; then 20 runs, each killed in the middle of
	// it: once it has committed one to four transactions of its own (at most
	// 2000 input records each, exactly_once.max_records), a random
	// 0-30 ms into the next.
	lines := make([]string, 0, eosRecords)
	for i := range eosRecords {
		lines = append(lines, eosInput(i))
	}
	kcatProduce(t, bootstrap, in, lines)
	var midStream, wiped int
	var report []string
	for kill := 1; kill <= eosKills; kill++ {
		if c.stateful && kill%5 == 0 {
			// As if the local state were lost with its machine: the run
			// restores all of it from the changelogs.
			if err := os.RemoveAll(killed.stateDir); err != nil {
				t.Fatal(err)
			}
			wiped++
		}
		committedBefore := watch.committed(t, killed.group)
		p := startPipeline(t, killedCfg)
		awaitCommitted(t, watch, p, killed.group, committedBefore+int64(1000*(1+rng.IntN(4))))
		time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
		if err := p.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-p.done
		committed := watch.committed(t, killed.group)
		if committed < eosRecords {
			midStream++
		}
		if kill <= 3 || kill%5 == 0 {
			report = append(report, fmt.Sprintf("kill %d: %d committed", kill, committed))
		}
	}
	last := startPipeline(t, killedCfg)
	awaitCommitted(t, watch, last, killed.group, eosRecords)
	last.stop(t)
	killedTook := time.Since(began)

	// The reference: one uninterrupted run over the same input.
	reference := newRun("reference")
	ref := startPipeline(t, writeConfig(t, c.config(reference)))
	awaitCommitted(t, watch, ref, reference.group, eosRecords)
	ref.stop(t)

	want := kcatReadCommitted(t, bootstrap, reference.out)
	c.check(t, want)
	got := kcatReadCommitted(t, bootstrap, killed.out)
	requireLines(t, "output after "+strconv.Itoa(eosKills)+" SIGKILLs", got, want)
	if midStream < eosKills {
		t.Fatalf("only %d of %d kills came before the input was all committed; %s", midStream, eosKills, strings.Join(report, "; "))
	}
	t.Logf("%s: %d kills (%d mid-stream, %d with the local state removed): read_committed output equals the reference run's, %d records; %s; in %v",
		c.name, eosKills, midStream, wiped, len(got), strings.Join(report, "; "), killedTook.Round(time.Millisecond))

	if c.stateful {
		// The state in Kafka, as a restore reads it, and the local state
		// of both runs: all four the same.
		refLog := changelogState(t, bootstrap, reference.name)
		killedLog := changelogState(t, bootstrap, killed.name)
		refLocal, killedLocal := localState(t, reference.stateDir), localState(t, killed.stateDir)
		if len(refLocal) == 0 {
			t.Fatal("the reference run has no local state")
		}
		for what, state := range map[string]map[string]string{
			"the killed run's changelogs": killedLog, "the reference run's changelogs": refLog, "the killed run's local state": killedLocal} {
			if !mapsEqual(state, refLocal) {
				t.Fatalf("%s hold %d entries, the reference run's local state %d: they differ", what, len(state), len(refLocal))
			}
		}
		if !strings.Contains(last.stderr(), "state restored from changelogs") {
			t.Fatalf("the last run did not restore from the changelogs:\n%s", last.stderr())
		}
		t.Logf("state: %d entries, equal in both runs' changelogs and local state directories", len(refLocal))
	}
}

// awaitCommitted waits until group has committed n input records: under
// exactly-once, the outputs of everything committed are committed with it.
func awaitCommitted(t *testing.T, watch progress, p *bgPipeline, group string, n int64) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	// Started, whatever the group had committed before.
	for !strings.Contains(p.stderr(), "pipeline starting") {
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("the pipeline did not start:\n%s", p.stderr())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for watch.committed(t, group) < n {
		if p.exited() {
			t.Fatalf("the pipeline exited:\n%s", p.stderr())
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s committed %d of %d records in 3 minutes:\n%s", group, watch.committed(t, group), n, lastLines(p.stderr(), 30))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kcatReadCommitted reads a whole topic as a read_committed consumer
// (records of aborted transactions are skipped), sorted.
func kcatReadCommitted(t *testing.T, bootstrap, topic string) []string {
	t.Helper()
	lines := kcatLinesCommitted(t, bootstrap, topic)
	slices.Sort(lines)
	return lines
}

// changelogState reads every changelog topic of a pipeline, committed records
// only, and returns the last value of each key (a null value deletes it):
// what a restore rebuilds.
func changelogState(t *testing.T, bootstrap, pipeline string) map[string]string {
	t.Helper()
	client, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeRegex(), kgo.ConsumeTopics("^"+pipeline+"-.*-changelog$"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	state := map[string]string{}
	idle := 0
	for idle < 3 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fetches := client.PollFetches(ctx)
		cancel()
		n := 0
		fetches.EachRecord(func(r *kgo.Record) {
			n++
			if r.Value == nil {
				delete(state, string(r.Key))
			} else {
				state[string(r.Key)] = string(r.Value)
			}
		})
		if n == 0 {
			idle++
		} else {
			idle = 0
		}
	}
	if len(state) == 0 {
		t.Fatalf("no changelog of %s holds any state", pipeline)
	}
	return state
}

// localState reads a stopped pipeline's state directory.
func localState(t *testing.T, dir string) map[string]string {
	t.Helper()
	db, err := statestore.Open(dir, statestore.Options{})
	if err != nil {
		t.Fatalf("opening %s: %v", filepath.Base(dir), err)
	}
	defer db.Close()
	state := map[string]string{}
	if err := db.EachCommitted(func(k, v []byte) error {
		state[string(k)] = string(v)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return state
}

// TestWordcountKafkaExactlyOnce runs pipelines/wordcount-kafka.yaml with
// -s processing_guarantee=exactly_once, killing it with SIGKILL five times
// while text arrives: read_committed, the counts written for each word are
// exactly 1, 2, …, its true count: increasing, none repeated, none missing.
func TestWordcountKafkaExactlyOnce(t *testing.T) {
	t.Parallel()
	forEachKafka(t, testWordcountKafkaExactlyOnce)
}

func testWordcountKafkaExactlyOnce(t *testing.T, bootstrap string) {
	in, out, name := kafkaTestName(t, "text"), kafkaTestName(t, "counts"), kafkaTestName(t, "wordcount")
	watch := newProgress(t, bootstrap)
	watch.createTopicPartitions(t, in, 1) // as the example creates it: counts are per partition
	args := []string{"run", "-c", "pipelines/wordcount-kafka.yaml", "-s", "processing_guarantee=exactly_once",
		"-s", "name=" + name, "-s", "input.kafka.topics.0=" + in, "-s", "output.kafka.topic=" + out,
		"-s", "input.kafka.instance_id=e2e", "-s", "input.kafka.session_timeout=6s", "-s", "state.dir=" + t.TempDir()}
	start := func() *bgPipeline { return startPipelineArgs(t, []string{"KAFKA_BROKERS=" + bootstrap}, args...) }

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	vocabulary := make([]string, 150)
	for i := range vocabulary {
		vocabulary[i] = fmt.Sprintf("w%03d", i)
	}
	vocabulary = append(vocabulary, "Kafka", "kafka", "STRASSE", "straße")
	want := map[string]int{}
	lines := 0
	produce := func(n int) {
		text := make([]string, n)
		for i := range text {
			words := make([]string, 1+rng.IntN(8))
			for j := range words {
				words[j] = vocabulary[rng.IntN(len(vocabulary))]
				want[strings.ToLower(words[j])]++
			}
			text[i] = strings.Join(words, " ")
		}
		kcat(t, strings.Join(text, "\n")+"\n", "-P", "-b", bootstrap, "-t", in)
		lines += n
	}
	produce(4000)
	for kill := 1; kill <= 5; kill++ {
		produce(4000)
		before := max(watch.records(out), 0)
		p := start()
		watch.awaitMoreThan(t, p, out, before)
		time.Sleep(time.Duration(rng.IntN(200)) * time.Millisecond)
		if err := p.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-p.done
	}
	p := start()
	awaitCommitted(t, watch, p, name, int64(lines))
	p.stop(t)

	updates := map[string][]int{}
	for _, line := range kcatLinesCommitted(t, bootstrap, out) {
		word, count, _ := strings.Cut(line, " ")
		n, err := strconv.Atoi(count)
		if err != nil {
			t.Fatalf("%s: record %q: the value is not a count", out, line)
		}
		updates[word] = append(updates[word], n)
	}
	if len(updates) != len(want) {
		t.Fatalf("%d words counted, want %d", len(updates), len(want))
	}
	total := 0
	for word, n := range want {
		seq := updates[word]
		for i, c := range seq {
			if c != i+1 || len(seq) != n {
				t.Fatalf("the counts written for %q are %v, want exactly 1..%d", word, firstInts(seq, 20), n)
			}
		}
		total += n
	}
	t.Logf("5 SIGKILLs: %d lines, %d words, %d distinct: every word's counts are exactly 1..n, read_committed", lines, total, len(want))
}

// kcatLinesCommitted reads a topic in kcat's order (each partition in offset
// order) as a read_committed consumer.
func kcatLinesCommitted(t *testing.T, bootstrap, topic string) []string {
	t.Helper()
	out := strings.TrimSuffix(kcat(t, "", "-C", "-b", bootstrap, "-t", topic, "-X", "isolation.level=read_committed", "-e", "-q", "-f", "%k %s\n"), "\n")
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

func firstInts(s []int, n int) []int { return s[:min(n, len(s))] }
