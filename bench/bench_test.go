package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/inputs"
	"github.com/pipelinehq/pipeline/internal/dbtest"
	"github.com/pipelinehq/pipeline/outputs"
	"github.com/pipelinehq/pipeline/processors"
)

const jsonRecords = 1_000_000

// writeOrders writes n JSON order lines, about 110 bytes each.
func writeOrders(tb testing.TB, path string, n int) {
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := 0; i < n; i++ {
		fmt.Fprintf(w, `{"id":%d,"customer":"customer-%d","price":%d.5,"qty":%d,"note":"lorem ipsum"}`+"\n", i, i%5000, i%100, i%7)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}

// handWritten is the baseline: what a Go programmer writes for
// "add total = price * qty, keep totals over 100, drop note".
func handWritten(in, out string) (int, error) {
	src, err := os.Open(in)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	dst, err := os.Create(out)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(dst, 1<<16)
	sc := bufio.NewScanner(src)
	sc.Buffer(make([]byte, 1<<16), 1<<24)
	kept := 0
	for sc.Scan() {
		var v map[string]any
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return 0, err
		}
		total := v["price"].(float64) * v["qty"].(float64)
		v["total"] = total
		delete(v, "note")
		if total <= 100 {
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			return 0, err
		}
		w.Write(b)
		w.WriteByte('\n')
		kept++
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if err := w.Flush(); err != nil {
		return 0, err
	}
	return kept, dst.Close()
}

func registry() *engine.Registry {
	return engine.NewRegistry(inputs.Register, processors.Register, outputs.Register)
}

// runConfig runs a pipeline to its end, with a state directory of its own:
// every run reads its input from the start, and pays for keeping its
// positions as a user's run does.
func runConfig(tb testing.TB, yaml string) {
	tb.Helper()
	doc, err := config.Load("bench.yaml", []byte(yaml), config.LoadOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	p, err := engine.Build(doc, registry(), engine.BuildOptions{StateDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.Run(context.Background()); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkFileMapFilterFile: 1M JSON lines, file → map → filter → file,
// against the hand-written loop over the same file in the same run. The two
// outputs must be byte-identical.
func BenchmarkFileMapFilterFile(b *testing.B) {
	dir := b.TempDir()
	in := filepath.Join(dir, "orders.jsonl")
	writeOrders(b, in, jsonRecords)
	baseOut, pipeOut := filepath.Join(dir, "baseline.jsonl"), filepath.Join(dir, "pipeline.jsonl")
	cfg := fmt.Sprintf(`
input: {file: {paths: [%q], codec: json_lines}}
pipeline:
  processors:
    - map: {set: {total: 'value.price * value.qty'}, delete: [note]}
    - filter: 'value.total > 100'
output: {file: {path: %q, codec: json_lines, mode: truncate}}
http: {enabled: false}
`, in, pipeOut)
	var baseline, pipeline time.Duration
	for i := 0; i < b.N; i++ {
		runtime.GC()
		start := time.Now()
		if _, err := handWritten(in, baseOut); err != nil {
			b.Fatal(err)
		}
		baseline += time.Since(start)
		runtime.GC()
		start = time.Now()
		runConfig(b, cfg)
		pipeline += time.Since(start)
	}
	sameFiles(b, baseOut, pipeOut)
	report(b, "file→map→filter→file 1M JSON lines", jsonRecords, baseline, pipeline)
}

// BenchmarkGenerateDrop: records/s through generate → drop, against a loop
// that builds the same values and throws them away.
func BenchmarkGenerateDrop(b *testing.B) {
	const n = 2_000_000
	cfg := fmt.Sprintf(`
input: {generate: {value: '{"seq": meta.offset}', count: %d, batch_size: 1024}}
output: {drop: {}}
http: {enabled: false}
`, n)
	var baseline, pipeline time.Duration
	var sink any
	for i := 0; i < b.N; i++ {
		start := time.Now()
		for j := 0; j < n; j++ {
			sink = map[string]any{"seq": int64(j)}
		}
		baseline += time.Since(start)
		start = time.Now()
		runConfig(b, cfg)
		pipeline += time.Since(start)
	}
	_ = sink
	report(b, "generate→drop", n, baseline, pipeline)
}

func sameFiles(tb testing.TB, a, b string) {
	x, err := os.ReadFile(a)
	if err != nil {
		tb.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		tb.Fatal(err)
	}
	if !bytes.Equal(x, y) {
		tb.Fatalf("pipeline output (%d bytes) differs from the hand-written loop's (%d bytes)", len(y), len(x))
	}
}

// report prints the pipeline's figure beside the baseline's and their ratio.
func report(b *testing.B, name string, records int, baseline, pipeline time.Duration) {
	runs := float64(b.N)
	base, pipe := baseline.Seconds()/runs, pipeline.Seconds()/runs
	b.ReportMetric(pipe/base, "x_baseline_time")
	b.ReportMetric(float64(records)/pipe, "records/s")
	fmt.Fprintf(benchOut, "%s: pipeline %.3fs (%.0f records/s), hand-written %.3fs (%.0f records/s), ratio %.2fx\n",
		name, pipe, float64(records)/pipe, base, float64(records)/base, pipe/base)
}

var benchOut io.Writer = os.Stdout

// observeLoop runs a bare loop that counts what it handled in n, and
// observes it until kafkaRecords.
func observeLoop(b *testing.B, loop func(n *atomic.Int64) error) window {
	b.Helper()
	var n atomic.Int64
	done := make(chan struct{})
	var err error
	go func() {
		defer close(done)
		err = loop(&n)
	}()
	w, werr := observe(func() (int64, error) { return n.Load(), nil }, kafkaRecords, 20*time.Millisecond, done, 10*time.Minute)
	<-done
	if err != nil || werr != nil {
		b.Fatal(err, werr)
	}
	return w
}

// meteredPipeline starts the pipeline config(addr), its HTTP server at a
// free address, and observes its outputs' sent-records counter until
// kafkaRecords; the pipeline is left running for the caller to stop.
func meteredPipeline(b *testing.B, config func(addr string) string) (*pipelineProc, window, error) {
	b.Helper()
	port, err := dbtest.FreePort()
	if err != nil {
		b.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p := startPipeline(b, config(addr))
	w, err := observe(func() (int64, error) {
		return metricSum(addr, "pipeline_component_sent_total", `kind="output"`)
	}, kafkaRecords, 20*time.Millisecond, p.done, 10*time.Minute)
	return p, w, err
}
