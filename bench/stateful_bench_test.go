package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/inputs/nexmark"
)

// The stateful benchmarks run the built binary, as users do, so that its
// peak memory (RSS) is its own; baselines run in this process.

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

func pipelineBinary(b *testing.B) string {
	binaryOnce.Do(func() {
		dir, err := os.MkdirTemp("", "pipeline-bench")
		if err != nil {
			binaryErr = err
			return
		}
		binaryPath = filepath.Join(dir, "pipeline")
		cmd := exec.Command("go", "build", "-o", binaryPath, "./cmd/pipeline")
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binaryErr = fmt.Errorf("%v\n%s", err, out)
		}
	})
	if binaryErr != nil {
		b.Fatal(binaryErr)
	}
	return binaryPath
}

type runResult struct {
	wall           time.Duration
	rssMiB         float64
	stdout, stderr []byte
}

func runBinary(b *testing.B, env []string, args ...string) runResult {
	b.Helper()
	cmd := exec.Command(pipelineBinary(b), args...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("pipeline %v: %v\n%s", args, err, errOut.String())
	}
	wall := time.Since(start)
	rss := float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024
	return runResult{wall: wall, rssMiB: rss, stdout: out.Bytes(), stderr: errOut.Bytes()}
}

// cachedFile makes a generated input once per machine: it is large.
func cachedFile(b *testing.B, name string, write func(path string)) string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	dir = filepath.Join(dir, "pipeline-e2e", "bench")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err == nil {
		return path
	}
	tmp := path + ".tmp"
	write(tmp)
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	return path
}

// writeWords writes lines of Zipf-distributed words (with some non-ASCII
// ones), about 50 bytes a line.
func writeWords(b *testing.B, path string, lines int) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(3, 5))
	zipf := rand.NewZipf(rng, 1.1, 2, 200_000)
	odd := []string{"Straße", "naïve", "ÉCOLE", "東京", "Kafka"}
	for i := 0; i < lines; i++ {
		for j, n := 0, 4+rng.IntN(9); j < n; j++ {
			if j > 0 {
				w.WriteByte(' ')
			}
			if rng.IntN(25) == 0 {
				w.WriteString(odd[rng.IntN(len(odd))])
			} else {
				fmt.Fprintf(w, "w%d", zipf.Uint64())
			}
		}
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

// handWordcount is the baseline: bufio, strings.Fields, a map, JSON lines out.
func handWordcount(path string, out *bytes.Buffer) (map[string]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	counts := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<24)
	for sc.Scan() {
		for _, word := range strings.Fields(strings.ToLower(sc.Text())) {
			counts[word]++
		}
	}
	w := bufio.NewWriter(out)
	for word, n := range counts {
		b, _ := json.Marshal(word)
		fmt.Fprintf(w, `{"word":%s,"count":%d}`+"\n", b, n)
	}
	return counts, errors(sc.Err(), w.Flush())
}

func errors(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// BenchmarkWordcount: pipelines/wordcount.yaml over 2M lines (~100 MB)
// against the hand-written count of the same file.
func BenchmarkWordcount(b *testing.B) {
	text := cachedFile(b, "words-2M.txt", func(p string) { writeWords(b, p, 2_000_000) })
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var baseOut bytes.Buffer
		start := time.Now()
		want, err := handWordcount(text, &baseOut)
		if err != nil {
			b.Fatal(err)
		}
		baseline := time.Since(start)
		res := runBinary(b, nil, "run", "-c", "pipelines/wordcount.yaml", "-s", "input.file.paths.0="+text, "-s", "state.dir="+b.TempDir())
		got := map[string]int{}
		for _, line := range bytes.Split(bytes.TrimSpace(res.stdout), []byte("\n")) {
			var r struct {
				Word  string `json:"word"`
				Count int    `json:"count"`
			}
			if err := json.Unmarshal(line, &r); err != nil {
				b.Fatalf("output %q: %v", line, err)
			}
			got[r.Word] = r.Count
		}
		if len(got) != len(want) {
			b.Fatalf("%d words, want %d", len(got), len(want))
		}
		for w, n := range want {
			if got[w] != n {
				b.Fatalf("word %q: %d, want %d", w, got[w], n)
			}
		}
		reportRun(b, "wordcount 2M lines (~100 MB)", res, baseline, "target ≤ 3×, RSS ≤ 256 MiB")
	}
}

// BenchmarkTumblingSpill: a tumbling count over 5M records with 1M distinct
// keys, more than the caches hold, so state spills to Badger; against a Go
// map counting the same keys.
func BenchmarkTumblingSpill(b *testing.B) {
	const records, keys = 5_000_000, 1_000_000
	cfg := filepath.Join(b.TempDir(), "spill.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
input: {generate: {value: '{"k": meta.offset %% %d}', count: %d, batch_size: 1024}}
pipeline:
  processors:
    - aggregate:
        key: value.k
        ops: {c: count()}
        window: {type: tumbling, size: 1h}
        timestamp: '0'
        emit: at_end
    - filter: 'value.c != %d'
output: {stdout: {codec: json_lines}}
http: {enabled: false}
# The state caches plus Badger's buffers outgrow 512 MiB of RSS once the Go
# collector takes its default headroom; a soft limit keeps it in.
memory_limit: 320MiB
`, keys, records, records/keys)), 0o644); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		runtime.GC()
		start := time.Now()
		counts := make(map[int64]int64)
		for n := int64(0); n < records; n++ {
			counts[n%keys]++
		}
		baseline := time.Since(start)
		if len(counts) != keys {
			b.Fatal("baseline miscounted")
		}
		res := runBinary(b, nil, "run", "-c", cfg, "-s", "state.dir="+b.TempDir())
		// Every key was seen records/keys times: the filter lets through
		// any result that says otherwise.
		if len(bytes.TrimSpace(res.stdout)) != 0 {
			b.Fatalf("wrong counts: %.300s", res.stdout)
		}
		reportRun(b, "tumbling count, 5M records, 1M keys (spills to Badger)", res, baseline, "RSS ≤ 512 MiB")
	}
}

// BenchmarkNexmark: q1, q2, q5 and q7 on one core (GOMAXPROCS=1), events/s,
// against hand-written loops computing the same queries over the same events.
func BenchmarkNexmark(b *testing.B) {
	const events = 1_000_000
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	baselines := map[string]func(){
		"q1": func() {
			gen := nexmark.NewGenerator(1, base, 10000)
			var sink float64
			for n := int64(0); n < events; n++ {
				if nexmark.KindOf(n) == nexmark.Bid {
					v, _ := gen.Event(n)
					sink += float64(v["price"].(int64)) * 0.908
				}
			}
			_ = sink
		},
		"q2": func() {
			gen := nexmark.NewGenerator(1, base, 10000)
			kept := 0
			for n := int64(0); n < events; n++ {
				if nexmark.KindOf(n) == nexmark.Bid {
					if v, _ := gen.Event(n); v["auction"].(int64)%123 == 0 {
						kept++
					}
				}
			}
			_ = kept
		},
		"q5": func() {
			gen := nexmark.NewGenerator(1, base, 10000)
			counts := map[[2]int64]int64{}
			for n := int64(0); n < events; n++ {
				if nexmark.KindOf(n) == nexmark.Bid {
					v, _ := gen.Event(n)
					ts, a := v["date_time"].(int64), v["auction"].(int64)
					for s := (ts-10000)/2000*2000 + 2000; s <= ts; s += 2000 {
						counts[[2]int64{s, a}]++
					}
				}
			}
			best := map[int64]int64{}
			for k, c := range counts {
				best[k[0]] = max(best[k[0]], c)
			}
		},
		"q7": func() {
			gen := nexmark.NewGenerator(1, base, 10000)
			best := map[int64]int64{}
			for n := int64(0); n < events; n++ {
				if nexmark.KindOf(n) == nexmark.Bid {
					v, _ := gen.Event(n)
					w := v["date_time"].(int64) / 10000
					best[w] = max(best[w], v["price"].(int64))
				}
			}
		},
	}
	for _, q := range []string{"q1", "q2", "q5", "q7"} {
		b.Run(q, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				prev := runtime.GOMAXPROCS(1)
				start := time.Now()
				baselines[q]()
				baseline := time.Since(start)
				runtime.GOMAXPROCS(prev)
				res := runBinary(b, []string{"GOMAXPROCS=1"}, "run", "-c", "pipelines/nexmark-"+q+".yaml",
					"-s", fmt.Sprintf("input.nexmark.count=%d", events), "-s", "state.dir="+b.TempDir(),
					"-s", "output.stdout.codec=json_lines")
				if len(res.stdout) == 0 {
					b.Fatal("no output")
				}
				b.ReportMetric(float64(events)/res.wall.Seconds(), "events/s")
				fmt.Fprintf(benchOut, "nexmark %s, %d events, GOMAXPROCS=1: pipeline %.2fs (%.0f events/s, peak RSS %.0f MiB), hand-written loop %.2fs (%.0f events/s), ratio %.2fx\n",
					q, events, res.wall.Seconds(), float64(events)/res.wall.Seconds(), res.rssMiB, baseline.Seconds(), float64(events)/baseline.Seconds(), res.wall.Seconds()/baseline.Seconds())
			}
		})
	}
}

func reportRun(b *testing.B, name string, res runResult, baseline time.Duration, target string) {
	ratio := res.wall.Seconds() / baseline.Seconds()
	b.ReportMetric(ratio, "x_baseline_time")
	b.ReportMetric(res.rssMiB, "peak_RSS_MiB")
	fmt.Fprintf(benchOut, "%s: pipeline %.2fs (peak RSS %.0f MiB), hand-written %.2fs, ratio %.2fx (%s)\n",
		name, res.wall.Seconds(), res.rssMiB, baseline.Seconds(), ratio, target)
}
