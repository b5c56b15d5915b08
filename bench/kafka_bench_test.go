package bench

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipelinehq/pipeline/internal/dbtest"
)

// The Kafka benchmarks run against a real Apache Kafka broker
// (e2e/kafka/broker.sh: single node, KRaft, on this machine), started once
// per `go test` process and stopped when it exits. Each benchmark measures
// the built binary and, in the same run, a bare franz-go program doing the
// same job over the same data, and reports records/s of both and the ratio
// pipeline / bare (above 1 means the pipeline is faster).
//
// Both sides are timed the same way, by an observer outside them: from the
// first moment it sees a record arrive (in the output topic, or, for
// consume-only, in the consumer's count) until all have arrived; the rate
// counts only the records that arrived in that window. Process start,
// connecting and joining the group are so left out of both.

const (
	kafkaRecords    = 1_000_000
	kafkaValueSize  = 1024
	kafkaPartitions = 6
	kafkaInput      = "bench-in"
)

type kafkaEnv struct {
	brokers string
	data    string // the 1M values, one per line
	adm     *kadm.Client
	admCl   *kgo.Client
}

var (
	kafkaOnce sync.Once
	kafkaEnvV *kafkaEnv
	kafkaSkip string
	kafkaErr  error
	kafkaSeq  atomic.Int64
)

// kafkaSetup starts the broker and preloads kafkaInput with the 1M records,
// once per process.
func kafkaSetup(b *testing.B) *kafkaEnv {
	b.Helper()
	kafkaOnce.Do(func() { kafkaEnvV, kafkaSkip, kafkaErr = startKafka(b) })
	if kafkaSkip != "" {
		b.Skip(kafkaSkip)
	}
	if kafkaErr != nil {
		b.Fatal(kafkaErr)
	}
	return kafkaEnvV
}

func startKafka(b *testing.B) (*kafkaEnv, string, error) {
	if _, err := exec.LookPath("java"); err != nil {
		return nil, "Kafka benchmarks need java (Kafka 4.x runs on Java 17+) to start a real broker: not found", nil
	}
	cache, _ := os.UserCacheDir()
	if _, err := os.Stat(filepath.Join(cache, "pipeline-e2e", "kafka-libs", ".pom.sha256")); err != nil {
		if _, err := exec.LookPath("mvn"); err != nil {
			return nil, "Kafka benchmarks need mvn once to fetch the Kafka jars (e2e/kafka/pom.xml): not found and no cached jars", nil
		}
	}
	data := cachedFile(b, "kafka-1M-1KiB.txt", func(p string) { writeKafkaValues(b, p) })
	dir, err := os.MkdirTemp("", "pipeline-bench-kafka")
	if err != nil {
		return nil, "", err
	}
	var out []byte
	// Ports are picked free but may be taken before the broker binds them
	// (other tests start brokers too): try again on other ports.
	for attempt := 1; ; attempt++ {
		port, err := dbtest.FreePort()
		if err != nil {
			return nil, "", err
		}
		cmd := exec.Command("bash", "../e2e/kafka/broker.sh", "start", filepath.Join(dir, strconv.Itoa(attempt)), strconv.Itoa(port))
		// The broker stops (and its directory goes) when this process exits.
		cmd.Env = append(os.Environ(), fmt.Sprintf("KAFKA_OWNER_PID=%d", os.Getpid()), "KAFKA_OWNER_REMOVE_DIR=1")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if out, err = cmd.Output(); err == nil {
			break
		} else if attempt == 3 {
			return nil, "", fmt.Errorf("broker.sh start: %v\n%s", err, stderr.String())
		}
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	env := &kafkaEnv{brokers: lines[len(lines)-1], data: data}
	env.admCl, err = kgo.NewClient(kgo.SeedBrokers(env.brokers))
	if err != nil {
		return nil, "", err
	}
	env.adm = kadm.NewClient(env.admCl)
	if err := env.createTopic(kafkaInput); err != nil {
		return nil, "", err
	}
	start := time.Now()
	if err := bareProduce(context.Background(), env.brokers, data, kafkaInput); err != nil {
		return nil, "", fmt.Errorf("preloading %s: %w", kafkaInput, err)
	}
	n, err := env.count(kafkaInput)
	if err != nil {
		return nil, "", err
	}
	if n != kafkaRecords {
		return nil, "", fmt.Errorf("preloaded %d records, want %d", n, kafkaRecords)
	}
	fmt.Fprintf(benchOut, "kafka: broker %s, %s preloaded with %d records of %d bytes in %.1fs\n",
		env.brokers, kafkaInput, kafkaRecords, kafkaValueSize, time.Since(start).Seconds())
	return env, "", nil
}

// writeKafkaValues writes kafkaRecords lines, each a JSON-ish value of
// exactly kafkaValueSize bytes: {"id":N,"text":"<random letters>"}.
func writeKafkaValues(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(7, 11))
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 "
	line := make([]byte, 0, kafkaValueSize+1)
	for i := 0; i < kafkaRecords; i++ {
		line = fmt.Appendf(line[:0], `{"id":%d,"text":"`, i)
		for len(line) < kafkaValueSize-2 {
			line = append(line, letters[rng.IntN(len(letters))])
		}
		line = append(line, '"', '}', '\n')
		w.Write(line)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

func (e *kafkaEnv) createTopic(topic string) error {
	resp, err := e.adm.CreateTopics(context.Background(), kafkaPartitions, 1, nil, topic)
	if err == nil {
		err = resp.Error()
	}
	return err
}

func (e *kafkaEnv) deleteTopics(topics ...string) {
	_, _ = e.adm.DeleteTopics(context.Background(), topics...)
}

// count is the number of records in topic (the sum of its end offsets: the
// topics are written once and never compacted).
func (e *kafkaEnv) count(topic string) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offs, err := e.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return 0, err
	}
	var n int64
	var firstErr error
	offs.Each(func(o kadm.ListedOffset) {
		if o.Err != nil && firstErr == nil {
			firstErr = o.Err
		}
		n += o.Offset
	})
	return n, firstErr
}

// committed is the number of kafkaInput records the group has committed.
func (e *kafkaEnv) committed(group string) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offs, err := e.adm.FetchOffsets(ctx, group)
	if err != nil {
		return 0, err
	}
	var n int64
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == kafkaInput && o.Err == nil && o.At > 0 {
			n += o.At
		}
	})
	return n, nil
}

// window is what the observer saw: the time of its first sighting of
// records, how many there were then, and the time all had arrived.
type window struct {
	first, last time.Time
	atFirst     int64
}

func (w window) rate(total int64) float64 {
	return float64(total-w.atFirst) / w.last.Sub(w.first).Seconds()
}

// observe polls progress() every interval until it reaches want,
// failing after timeout or when stop is closed first (the measured program
// ended or failed).
func observe(progress func() (int64, error), want int64, every time.Duration, stop <-chan struct{}, timeout time.Duration) (window, error) {
	var w window
	deadline := time.Now().Add(timeout)
	seen := int64(0)
	for {
		n, err := progress()
		now := time.Now()
		if err == nil {
			seen = n
			if n > 0 && w.first.IsZero() {
				w.first, w.atFirst = now, n
			}
			if n >= want {
				w.last = now
				return w, nil
			}
		}
		if now.After(deadline) {
			return w, fmt.Errorf("after %s: %d of %d records (last error: %v)", timeout, seen, want, err)
		}
		select {
		case <-stop:
			// One more look: it may have finished just now.
			if n, err := progress(); err == nil && n >= want {
				w.last = time.Now()
				if w.first.IsZero() {
					w.first, w.atFirst = w.last, n
				}
				return w, nil
			}
			return w, fmt.Errorf("stopped at %d of %d records", seen, want)
		case <-time.After(every):
		}
	}
}

// producerOpts are the kafka output's defaults: idempotent, acks=all, no
// linger, 1 MiB batches, no compression, murmur2 on keys.
func producerOpts(brokers string) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(brokers),
		kgo.ProducerLinger(0),
		kgo.ProducerBatchMaxBytes(1 << 20),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.RecordRetries(10),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	}
}

// bareProduce writes every line of data to topic, keyed by its 1-based line
// number, as a Go programmer would with franz-go: Produce with a callback,
// then Flush.
func bareProduce(ctx context.Context, brokers, data, topic string) error {
	cl, err := kgo.NewClient(append(producerOpts(brokers), kgo.DefaultProduceTopic(topic))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	f, err := os.Open(data)
	if err != nil {
		return err
	}
	defer f.Close()
	var failed produceErrors
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for line := int64(1); sc.Scan(); line++ {
		r := &kgo.Record{Key: strconv.AppendInt(nil, line, 10), Value: bytes.Clone(sc.Bytes())}
		cl.Produce(ctx, r, failed.record)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	return failed.err()
}

// produceErrors keeps the last error franz-go's produce callbacks report, as
// a bare loop's caller would check after Flush.
type produceErrors struct {
	mu   sync.Mutex
	last error
}

func (p *produceErrors) record(_ *kgo.Record, err error) {
	if err != nil {
		p.mu.Lock()
		p.last = err
		p.mu.Unlock()
	}
}

func (p *produceErrors) err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

// bareConsume reads kafkaInput to the end as a member of group, committing
// after every poll.
func bareConsume(ctx context.Context, brokers, group string) (window, error) {
	var w window
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.ConsumerGroup(group), kgo.ConsumeTopics(kafkaInput),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	if err != nil {
		return w, err
	}
	defer cl.Close()
	var n, bytesRead int64
	for n < kafkaRecords {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			return w, err
		}
		var pollErr error
		fs.EachError(func(_ string, _ int32, err error) { pollErr = err })
		if pollErr != nil {
			return w, pollErr
		}
		recs := fs.Records()
		if len(recs) == 0 {
			continue
		}
		for _, r := range recs {
			bytesRead += int64(len(r.Value))
		}
		if err := cl.CommitRecords(ctx, recs...); err != nil {
			return w, err
		}
		n += int64(len(recs))
		if w.first.IsZero() {
			w.first, w.atFirst = time.Now(), n
		}
	}
	w.last = time.Now()
	if bytesRead != kafkaRecords*kafkaValueSize {
		return w, fmt.Errorf("read %d bytes of values, want %d", bytesRead, kafkaRecords*kafkaValueSize)
	}
	return w, nil
}

// bareMap is the bare consume → produce loop: poll, produce each record to
// out with the same key, value and timestamp plus a source_offset header
// (what the pipeline's map adds), wait for every ack, commit, poll again.
func bareMap(ctx context.Context, brokers, group, out string) error {
	cl, err := kgo.NewClient(append(producerOpts(brokers), kgo.ConsumerGroup(group), kgo.ConsumeTopics(kafkaInput),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())...)
	if err != nil {
		return err
	}
	defer cl.Close()
	var n int64
	for n < kafkaRecords {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			return err
		}
		var pollErr error
		fs.EachError(func(_ string, _ int32, err error) { pollErr = err })
		if pollErr != nil {
			return pollErr
		}
		in := fs.Records()
		if len(in) == 0 {
			continue
		}
		outs := make([]*kgo.Record, len(in))
		for i, r := range in {
			headers := append(make([]kgo.RecordHeader, 0, len(r.Headers)+1), r.Headers...)
			headers = append(headers, kgo.RecordHeader{Key: "source_offset", Value: strconv.AppendInt(nil, r.Offset, 10)})
			outs[i] = &kgo.Record{Topic: out, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp, Headers: headers}
		}
		if err := cl.ProduceSync(ctx, outs...).FirstErr(); err != nil {
			return err
		}
		if err := cl.CommitRecords(ctx, in...); err != nil {
			return err
		}
		n += int64(len(in))
	}
	return nil
}

// pipelineProc is the built binary running a config, in the background.
type pipelineProc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	errb bytes.Buffer // its stderr
	done chan struct{}
	err  error
}

// Write collects the process's stderr while it runs.
func (p *pipelineProc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.errb.Write(b)
}

func (p *pipelineProc) stderrString() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.errb.String()
}

func startPipeline(b *testing.B, config string) *pipelineProc {
	b.Helper()
	path := filepath.Join(b.TempDir(), "pipeline.yaml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		b.Fatal(err)
	}
	// A state directory of its own: a file input reads from the start.
	return startPipelineProc(b, pipelineBinary(b), "run", "-c", path, "-s", "state.dir="+b.TempDir())
}

// stop asks the pipeline to stop (as a user does, with SIGTERM) and waits
// for a clean exit.
func (p *pipelineProc) stop(b *testing.B) {
	b.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(b)
}

func (p *pipelineProc) wait(b *testing.B) {
	b.Helper()
	select {
	case <-p.done:
	case <-time.After(2 * time.Minute):
		_ = p.cmd.Process.Kill()
		<-p.done
		b.Fatalf("pipeline did not stop\n%s", p.tail())
	}
	if p.err != nil {
		b.Fatalf("pipeline: %v\n%s", p.err, p.tail())
	}
}

func (p *pipelineProc) tail() string {
	s := p.stderrString()
	if len(s) > 4000 {
		s = "…" + s[len(s)-4000:]
	}
	return s
}

// metricSum sums the samples of a Prometheus counter whose labels contain
// match, from the pipeline's /metrics.
func metricSum(addr, name, match string) (int64, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	var sum float64
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, name+"{") || !strings.Contains(line, match) {
			continue
		}
		f, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			return 0, err
		}
		sum += f
	}
	return int64(sum), nil
}

// reportKafka prints and reports the pipeline's rate beside the bare
// program's: records/s, MiB/s of values, and pipeline / bare.
// The headline ratio is the median of the rounds' ratios: single rounds of
// one side move by a factor of 3 with the broker's disk and page cache, and
// the two sides of a round ran under the same conditions. The ratio of the
// two sides' medians is printed beside it.
// reporter prints and reports a benchmark's medians.
type reporter func(b *testing.B, name, pipeName, bareName string, pipe, bare window, roundRatio float64)

// reportRows reports records/s alone, for rows whose size varies.
func reportRows(b *testing.B, name, pipeName, bareName string, pipe, bare window, roundRatio float64) {
	p, q := pipe.rate(kafkaRecords), bare.rate(kafkaRecords)
	b.ReportMetric(p, "rec/s")
	b.ReportMetric(q, "baseline_rec/s")
	b.ReportMetric(roundRatio, "ratio")
	b.ReportMetric(p/q, "ratio_of_medians")
	fmt.Fprintf(benchOut, "%s, %d rows: %s %.0f rows/s (%.2fs), %s %.0f rows/s (%.2fs); ratio (median of rounds) %.2f, ratio of medians %.2f\n",
		name, kafkaRecords, pipeName, p, pipe.last.Sub(pipe.first).Seconds(), bareName, q, bare.last.Sub(bare.first).Seconds(), roundRatio, p/q)
}

func reportKafka(b *testing.B, name, pipeName, bareName string, pipe, bare window, roundRatio float64) {
	p, q := pipe.rate(kafkaRecords), bare.rate(kafkaRecords)
	mib := float64(kafkaValueSize) / (1 << 20)
	b.ReportMetric(p, "rec/s")
	b.ReportMetric(p*mib, "MiB/s")
	b.ReportMetric(q, "baseline_rec/s")
	b.ReportMetric(q*mib, "baseline_MiB/s")
	b.ReportMetric(roundRatio, "ratio")
	b.ReportMetric(p/q, "ratio_of_medians")
	fmt.Fprintf(benchOut, "%s, %d records of %d B, %d partitions: %s %.0f records/s (%.1f MiB/s, %.2fs), %s %.0f records/s (%.1f MiB/s, %.2fs); ratio (median of rounds) %.2f, ratio of medians %.2f\n",
		name, kafkaRecords, kafkaValueSize, kafkaPartitions, pipeName, p, p*mib, pipe.last.Sub(pipe.first).Seconds(),
		bareName, q, q*mib, bare.last.Sub(bare.first).Seconds(), roundRatio, p/q)
}

func (e *kafkaEnv) watchTopic(b *testing.B, topic string, stop <-chan struct{}) window {
	b.Helper()
	w, err := e.observeTopic(topic, stop)
	if err != nil {
		b.Fatal(err)
	}
	return w
}

// observeTopic watches topic fill up to kafkaRecords.
func (e *kafkaEnv) observeTopic(topic string, stop <-chan struct{}) (window, error) {
	w, err := observe(func() (int64, error) { return e.count(topic) }, kafkaRecords, 10*time.Millisecond, stop, 10*time.Minute)
	if err != nil {
		return w, fmt.Errorf("%s: %w", topic, err)
	}
	return w, nil
}

// exactly fails unless topic holds exactly kafkaRecords records.
func (e *kafkaEnv) exactly(b *testing.B, topic string) {
	b.Helper()
	n, err := e.count(topic)
	if err != nil {
		b.Fatal(err)
	}
	if n != kafkaRecords {
		b.Fatalf("%s holds %d records, want %d", topic, n, kafkaRecords)
	}
}

func (e *kafkaEnv) allCommitted(b *testing.B, group string) {
	b.Helper()
	var n int64
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if n, err = e.committed(group); err == nil && n == kafkaRecords {
			return
		}
	}
	b.Fatalf("group %s committed %d of %d records (%v)", group, n, kafkaRecords, err)
}

// kafkaRounds is how many times each benchmark iteration measures both
// sides, alternating which goes first; it reports the median of the rounds' ratios.
// A single pair is at the mercy of a shared two-core VM (the broker's disk
// writeback and page-cache reclaim, other processes): single rounds of the
// same side moved by a factor of up to 3.
const kafkaRounds = 5

// rounds measures bare and pipe kafkaRounds times each, alternating, prints
// every round and reports the medians.
func rounds(b *testing.B, name string, bare, pipe func(seq int64) window) {
	roundsOf(b, kafkaRounds, name, "pipeline", "bare franz-go", bare, pipe, reportKafka)
}

// roundsOf is rounds with n rounds and names for the two sides.
func roundsOf(b *testing.B, n int, name, pipeName, bareName string, bare, pipe func(seq int64) window, report reporter) {
	var bares, pipes []window
	var ratios []float64 // per round: the two sides ran back to back, on the broker as it was then
	// A window whose first sighting already saw every record measured
	// nothing (the observer's request took that long): that side runs again.
	measure := func(side func(int64) window) window {
		for attempt := 1; ; attempt++ {
			runtime.GC()
			w := side(kafkaSeq.Add(1))
			if w.last.After(w.first) || attempt == 3 {
				return w
			}
			fmt.Fprintf(benchOut, "  (no progress seen between two samples; measuring again)\n")
		}
	}
	for round := range n {
		sides := []func(){
			func() { bares = append(bares, measure(bare)) },
			func() { pipes = append(pipes, measure(pipe)) },
		}
		if round%2 == 1 {
			sides[0], sides[1] = sides[1], sides[0]
		}
		sides[0]()
		sides[1]()
		p, q := pipes[round].rate(kafkaRecords), bares[round].rate(kafkaRecords)
		ratios = append(ratios, p/q)
		fmt.Fprintf(benchOut, "  round %d: %s %.0f records/s, %s %.0f records/s, ratio %.2f\n", round+1, pipeName, p, bareName, q, p/q)
	}
	slices.Sort(ratios)
	report(b, fmt.Sprintf("%s, median of %d", name, n), pipeName, bareName, median(pipes), median(bares), ratios[len(ratios)/2])
}

// median is the window of the median rate.
func median(ws []window) window {
	ws = slices.Clone(ws)
	slices.SortFunc(ws, func(a, b window) int { return cmp.Compare(a.rate(kafkaRecords), b.rate(kafkaRecords)) })
	return ws[len(ws)/2]
}

// BenchmarkKafkaProduce: the 1M lines of a file to a 6-partition topic,
// keyed by line number: `file → kafka` against a franz-go producer with the
// output's settings (idempotent, acks=all, linger 0, 1 MiB batches, no
// compression). Each must leave exactly 1M records in its topic.
func BenchmarkKafkaProduce(b *testing.B) {
	env := kafkaSetup(b)
	bare := func(seq int64) window {
		topic := env.newTopic(b, "produce-bare", seq)
		w := env.runBare(b, topic, "bare producer", func() error {
			return bareProduce(context.Background(), env.brokers, env.data, topic)
		})
		env.exactly(b, topic)
		env.deleteTopics(topic)
		return w
	}
	pipe := func(seq int64) window {
		topic := env.newTopic(b, "produce-pipeline", seq)
		p := startPipeline(b, fmt.Sprintf(`
input: {file: {paths: [%q], codec: lines}}
output: {kafka: {brokers: [%q], topic: %s, key: 'string(meta.offset)'}}
http: {enabled: false}
`, env.data, env.brokers, topic))
		w := env.watchTopic(b, topic, p.done)
		p.wait(b)
		env.exactly(b, topic)
		env.deleteTopics(topic)
		return w
	}
	for i := 0; i < b.N; i++ {
		rounds(b, "kafka produce-only (file → kafka)", bare, pipe)
	}
}

// BenchmarkKafkaConsume: the 1M records of the input topic, `kafka → drop`
// against a franz-go group consumer committing after every poll. The
// pipeline's count is its output's written-records counter on /metrics;
// afterwards each group must have committed every record.
func BenchmarkKafkaConsume(b *testing.B) {
	env := kafkaSetup(b)
	bare := func(seq int64) window {
		group := fmt.Sprintf("consume-bare-%d", seq)
		w, err := bareConsume(context.Background(), env.brokers, group)
		if err != nil {
			b.Fatal(err)
		}
		env.allCommitted(b, group)
		return w
	}
	pipe := func(seq int64) window {
		group := fmt.Sprintf("consume-pipeline-%d", seq)
		p, w, err := meteredPipeline(b, func(addr string) string {
			return fmt.Sprintf(`
input: {kafka: {brokers: [%q], topics: [%s], consumer_group: %s}}
output: {drop: {}}
http: {address: %q}
`, env.brokers, kafkaInput, group, addr)
		})
		if err != nil {
			p.stop(b)
			b.Fatal(err)
		}
		env.allCommitted(b, group)
		p.stop(b)
		return w
	}
	for i := 0; i < b.N; i++ {
		rounds(b, "kafka consume-only (kafka → drop)", bare, pipe)
	}
}

// BenchmarkKafkaMap: Kafka → map → Kafka, at-least-once. The pipeline reads
// the input topic in a consumer group, adds a source_offset header, and
// writes to a 6-partition topic, committing offsets once written; the bare
// loop polls, produces the same records, waits for the acks and commits.
// Each must leave exactly 1M records in its output topic, and its group
// must have committed all 1M input records.
func BenchmarkKafkaMap(b *testing.B) {
	env := kafkaSetup(b)
	bare := func(seq int64) window {
		topic := env.newTopic(b, "map-bare", seq)
		w := env.runBare(b, topic, "bare consume → produce loop", func() error {
			return bareMap(context.Background(), env.brokers, topic, topic)
		})
		env.exactly(b, topic)
		env.allCommitted(b, topic)
		env.checkHeader(b, topic)
		env.deleteTopics(topic)
		return w
	}
	pipe := func(seq int64) window {
		topic := env.newTopic(b, "map-pipeline", seq)
		p := startPipeline(b, env.mapConfig(topic, ""))
		w := env.watchTopic(b, topic, p.done)
		env.allCommitted(b, topic)
		p.stop(b)
		env.exactly(b, topic)
		env.checkHeader(b, topic)
		env.deleteTopics(topic)
		return w
	}
	for i := 0; i < b.N; i++ {
		rounds(b, "kafka → map → kafka, at-least-once", bare, pipe)
	}
}

// checkHeader reads back a few records of topic: each must have a key, a
// 1 KiB value and the source_offset header the map adds, so that both sides
// did the same work.
func (e *kafkaEnv) checkHeader(b *testing.B, topic string) {
	b.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fs := cl.PollRecords(ctx, 100)
	if err := fs.Err0(); err != nil {
		b.Fatalf("%s: %v", topic, err)
	}
	recs := fs.Records()
	if len(recs) == 0 {
		b.Fatalf("%s: no records read back", topic)
	}
	for _, r := range recs {
		if len(r.Value) != kafkaValueSize || len(r.Key) == 0 || len(r.Headers) != 1 || r.Headers[0].Key != "source_offset" {
			b.Fatalf("%s: record %s/%d has key %q, %d bytes of value, headers %v", topic, r.Topic, r.Offset, r.Key, len(r.Value), r.Headers)
		}
		if _, err := strconv.ParseInt(string(r.Headers[0].Value), 10, 64); err != nil {
			b.Fatalf("%s: source_offset header %q", topic, r.Headers[0].Value)
		}
	}
}

// mapPipeline runs the benchmarks' Kafka → map → Kafka pipeline over the
// 1M input records, with extra root settings (the processing guarantee),
// until its group has committed every record. It is timed by the group's
// committed offsets, which under exactly-once commit with the outputs
// (end offsets there also count transaction markers). The output must then
// hold exactly 1M records read_committed, with the map's header.
func (e *kafkaEnv) mapPipeline(b *testing.B, name string, seq int64, extra string) window {
	b.Helper()
	topic := e.newTopic(b, name, seq)
	p := startPipeline(b, e.mapConfig(topic, extra))
	w, err := observe(func() (int64, error) { return e.committed(topic) }, kafkaRecords, 10*time.Millisecond, p.done, 10*time.Minute)
	if err != nil {
		p.stop(b)
		b.Fatalf("%s: %v\n%s", topic, err, p.tail())
	}
	p.stop(b)
	if n := e.countCommitted(b, topic); n != kafkaRecords {
		b.Fatalf("%s holds %d records read_committed, want %d", topic, n, kafkaRecords)
	}
	e.checkHeader(b, topic)
	e.deleteTopics(topic)
	return w
}

// countCommitted reads topic to its end as a read_committed consumer and
// counts its records.
func (e *kafkaEnv) countCommitted(b *testing.B, topic string) int64 {
	b.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	var n int64
	for idle := 0; idle < 2; {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		got := int64(fs.NumRecords())
		n += got
		if got == 0 {
			idle++
		} else {
			idle = 0
		}
	}
	return n
}

// BenchmarkKafkaExactlyOnce: the Kafka → map → Kafka pipeline under
// exactly-once (commit interval 100 ms, the default; also 10 ms and 1 s)
// beside the same pipeline at-least-once, same broker and data, same run;
// the ratio is exactly-once / at-least-once.
func BenchmarkKafkaExactlyOnce(b *testing.B) {
	env := kafkaSetup(b)
	alo := func(seq int64) window { return env.mapPipeline(b, "alo", seq, "") }
	for i := 0; i < b.N; i++ {
		for _, c := range []struct {
			interval string
			rounds   int
		}{{"100ms", kafkaRounds}, {"10ms", 3}, {"1s", 3}} {
			eos := func(seq int64) window {
				return env.mapPipeline(b, "eos", seq, fmt.Sprintf("processing_guarantee: exactly_once\ncommit_interval: %s\nexactly_once: {transactional_id: bench-eos-%d}\n", c.interval, seq))
			}
			roundsOf(b, c.rounds, fmt.Sprintf("kafka → map → kafka, exactly-once at %s commits vs at-least-once", c.interval),
				"exactly-once", "at-least-once", alo, eos, reportKafka)
		}
	}
}

var restoredLine = regexp.MustCompile(`msg="state restored from changelogs" records=(\d+) took=(\S+) records_per_second=(\d+)`)

// BenchmarkKafkaRestore: a stateful pipeline under exactly-once counts the
// 1M input records by key (1M keys, so 1M changelog records); then its
// local state is removed and a new run restores it from the changelog. The
// restore's records/s (from its log) is reported beside a bare franz-go
// read_committed consumer reading the same changelog to its end.
func BenchmarkKafkaRestore(b *testing.B) {
	env := kafkaSetup(b)
	for i := 0; i < b.N; i++ {
		seq := kafkaSeq.Add(1)
		name := fmt.Sprintf("restore-%d", seq)
		out := name + "-out"
		if err := env.createTopic(out); err != nil {
			b.Fatal(err)
		}
		stateDir := b.TempDir()
		cfg := fmt.Sprintf(`
name: %[3]s
processing_guarantee: exactly_once
input: {kafka: {brokers: [%[1]q], topics: [%[2]s]}}
pipeline:
  processors:
    - aggregate: {key: key, ops: {n: 'count()'}, emit: on_update}
output: {kafka: {brokers: [%[1]q], topic: %[4]s}}
http: {enabled: false}
state: {dir: %[5]q}
`, env.brokers, kafkaInput, name, out, stateDir)
		p := startPipeline(b, cfg)
		if _, err := observe(func() (int64, error) { return env.committed(name) }, kafkaRecords, 50*time.Millisecond, p.done, 10*time.Minute); err != nil {
			p.stop(b)
			b.Fatalf("%s: %v\n%s", name, err, p.tail())
		}
		p.stop(b)
		if err := os.RemoveAll(stateDir); err != nil {
			b.Fatal(err)
		}
		p = startPipeline(b, cfg)
		var m []string
		deadline := time.Now().Add(5 * time.Minute)
		for m == nil {
			if time.Now().After(deadline) {
				p.stop(b)
				b.Fatalf("no restore logged in 5 minutes:\n%s", p.tail())
			}
			time.Sleep(50 * time.Millisecond)
			m = restoredLine.FindStringSubmatch(p.stderrString())
		}
		p.stop(b)
		restored, _ := strconv.ParseInt(m[1], 10, 64)
		rate, _ := strconv.ParseFloat(m[3], 64)
		// One record per key, and the stream time of each partition as of
		// each commit.
		changelogs := env.changelogsOf(b, name)
		n, took := env.readToEnd(b, changelogs...)
		if restored != n || n < kafkaRecords {
			b.Fatalf("restored %d changelog records; %v hold %d (want at least one per key, %d)", restored, changelogs, n, kafkaRecords)
		}
		bare := float64(n) / took.Seconds()
		b.ReportMetric(rate, "restore_rec/s")
		b.ReportMetric(bare, "baseline_rec/s")
		b.ReportMetric(rate/bare, "ratio")
		fmt.Fprintf(benchOut, "changelog restore, %d records (one per key, and stream times): pipeline %.0f records/s (%s), bare franz-go read_committed read of the changelog %.0f records/s, ratio %.2f\n",
			restored, rate, m[2], bare, rate/bare)
		env.deleteTopics(append(changelogs, out)...)
	}
}

// changelogsOf lists the changelog topics of a pipeline
// (<name>-<store>-<definition>-changelog).
func (e *kafkaEnv) changelogsOf(b *testing.B, pipeline string) []string {
	b.Helper()
	topics, err := e.adm.ListTopics(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	var found []string
	for _, t := range topics.Names() {
		if strings.HasPrefix(t, pipeline+"-") && strings.HasSuffix(t, "-changelog") {
			found = append(found, t)
		}
	}
	if len(found) == 0 {
		b.Fatalf("no changelog topic of %s", pipeline)
	}
	return found
}

// readToEnd reads topics from the start to their end as a read_committed
// consumer would restore them, and returns how many data records they hold
// and how long the read took.
func (e *kafkaEnv) readToEnd(b *testing.B, topics ...string) (int64, time.Duration) {
	b.Helper()
	ctx := context.Background()
	ends, err := e.adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		b.Fatal(err)
	}
	type tp struct {
		topic     string
		partition int32
	}
	left := map[tp]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[tp{o.Topic, o.Partition}] = o.Offset
		}
	})
	began := time.Now()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers), kgo.ConsumeTopics(topics...), kgo.KeepControlRecords(),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	var n int64
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			b.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if !r.Attrs.IsControl() {
				n++
			}
			if end, ok := left[tp{r.Topic, r.Partition}]; ok && r.Offset+1 >= end {
				delete(left, tp{r.Topic, r.Partition})
			}
		})
	}
	return n, time.Since(began)
}

// newTopic creates the benchmark topic prefix-seq.
func (e *kafkaEnv) newTopic(b *testing.B, prefix string, seq int64) string {
	b.Helper()
	topic := fmt.Sprintf("%s-%d", prefix, seq)
	if err := e.createTopic(topic); err != nil {
		b.Fatal(err)
	}
	return topic
}

// runBare runs a bare franz-go program that fills topic and times it as
// the pipelines are timed, by watching the topic fill up.
func (e *kafkaEnv) runBare(b *testing.B, topic, what string, run func() error) window {
	b.Helper()
	done := make(chan struct{})
	var err error
	go func() {
		defer close(done)
		err = run()
	}()
	w, watchErr := e.observeTopic(topic, done)
	<-done
	if err != nil {
		b.Fatalf("%s: %v", what, err)
	}
	if watchErr != nil {
		b.Fatal(watchErr)
	}
	return w
}

// mapConfig is the benchmarks' Kafka → map → Kafka pipeline, named (and so
// grouped) after its output topic, with extra root settings.
func (e *kafkaEnv) mapConfig(topic, extra string) string {
	return fmt.Sprintf(`
name: %[3]s
input: {kafka: {brokers: [%[1]q], topics: [%[2]s]}}
pipeline:
  processors:
    - map: {headers: {source_offset: 'meta.offset'}}
output: {kafka: {brokers: [%[1]q], topic: %[3]s}}
http: {enabled: false}
%[4]s
`, e.brokers, kafkaInput, topic, extra)
}
