package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/config"
)

// The components below exist only for these tests: a scripted input that
// records its commits, processors driven by expressions, and an output that
// collects (and can fail or stall) writes.

type testInput struct {
	batches   [][]string // values; each batch one partition "p"
	blockLast bool       // after the batches, block until ctx ends instead of EOF
	mu        sync.Mutex
	next      int
	commits   []Checkpoint
	closed    bool
}

func (in *testInput) Read(ctx context.Context) (InputBatch, error) {
	in.mu.Lock()
	i := in.next
	in.next++
	in.mu.Unlock()
	if i >= len(in.batches) {
		if in.blockLast {
			<-ctx.Done()
			return InputBatch{}, ctx.Err()
		}
		return InputBatch{}, io.EOF
	}
	src := &Source{Input: "test", Partition: "p"}
	var recs []*Record
	for j, v := range in.batches[i] {
		r := NewRecord([]byte(v), JSON)
		r.Source, r.Offset = src, int64(i*100+j)
		recs = append(recs, r)
	}
	return InputBatch{Records: recs, Partition: "p", Position: IntPosition("n", int64(i+1))}, nil
}

func (in *testInput) Commit(_ context.Context, cps []Checkpoint) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.commits = append(in.commits, cps...)
	return nil
}

func (in *testInput) Close(context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.closed = true
	return nil
}

func (in *testInput) lastCommit() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.commits) == 0 {
		return ""
	}
	n, _ := in.commits[len(in.commits)-1].Position.Int("n")
	return strconv.FormatInt(n, 10)
}

type testOutput struct {
	mu       sync.Mutex
	got      []string
	headers  []map[string]string
	failures int // fail this many writes first
	reject   func(value string) bool
	gate     chan struct{} // when set, each write waits for a token
	writes   atomic.Int32
	closed   bool
}

func (o *testOutput) Write(ctx context.Context, recs []*Record) error {
	o.writes.Add(1)
	if o.gate != nil {
		select {
		case <-o.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failures > 0 {
		o.failures--
		return errors.New("sink unavailable")
	}
	rejected := &RecordsRejected{}
	for i, r := range recs {
		b, err := r.Bytes()
		if err != nil {
			return err
		}
		if o.reject != nil && o.reject(string(b)) {
			rejected.Reject(i, fmt.Errorf("cannot take %s", b))
			continue
		}
		o.got = append(o.got, string(b))
		h := map[string]string{}
		for _, x := range r.Headers {
			h[x.Key] = string(x.Value)
		}
		o.headers = append(o.headers, h)
	}
	return rejected.OrNil()
}

func (o *testOutput) Close(context.Context) error { o.closed = true; return nil }

func (o *testOutput) values() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.got...)
}

// exprProcessor replaces each value by an expression's result.
type exprProcessor struct{ e *Expr }

func (p *exprProcessor) Process(_ context.Context, b *Batch) error {
	kept := b.Records[:0]
	for _, r := range b.Records {
		v, err := p.e.Eval(r)
		if err != nil {
			b.Fail(r, err)
			continue
		}
		r.SetValue(v)
		kept = append(kept, r)
	}
	b.Records = kept
	return nil
}

// holdProcessor keeps every record until the end of input.
type holdProcessor struct{ held []*Record }

func (p *holdProcessor) Process(_ context.Context, b *Batch) error {
	p.held = append(p.held, b.Records...)
	b.Records = nil
	return nil
}

func (p *holdProcessor) Flush(_ context.Context, b *Batch) (bool, error) {
	b.Records = append(b.Records, NewDerived(p.held[0], fmt.Sprintf("held %d", len(p.held))))
	return false, nil
}

type fixture struct {
	in   *testInput
	outs map[string]*testOutput
	hold *holdProcessor
	reg  *Registry
}

func newFixture(in *testInput) *fixture {
	f := &fixture{in: in, outs: map[string]*testOutput{}, hold: &holdProcessor{}}
	f.reg = NewRegistry()
	f.reg.AddInput(InputPlugin{Spec: config.Spec{Name: "scripted"}, New: func(*config.Parsed, *Resources) (Input, error) { return f.in, nil }})
	f.reg.AddProcessor(ProcessorPlugin{
		Spec: config.Spec{Name: "eval", Shorthand: "expr", Fields: []config.Field{config.Expr("expr", "").Required()}},
		New: func(c *config.Parsed, _ *Resources) (Processor, error) {
			e, err := CompileExpr(c.Expr("expr"), AnyResult)
			return &exprProcessor{e: e}, err
		}})
	f.reg.AddProcessor(ProcessorPlugin{Spec: config.Spec{Name: "hold"}, New: func(*config.Parsed, *Resources) (Processor, error) { return f.hold, nil }})
	f.reg.AddOutput(OutputPlugin{
		Spec: config.Spec{Name: "collect", Fields: []config.Field{config.String("name", "").Required()}},
		New: func(c *config.Parsed, _ *Resources) (Output, error) {
			o, ok := f.outs[c.String("name")]
			if !ok {
				o = &testOutput{}
				f.outs[c.String("name")] = o
			}
			return o, nil
		}})
	return f
}

func (f *fixture) build(t *testing.T, yaml string) *Pipeline {
	t.Helper()
	doc, err := config.Load("t.yaml", []byte(yaml), config.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := Build(doc, f.reg, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// mustFailCommitting runs p: it must fail with an error holding wantErr and
// have committed exactly the position committed ("" for none).
func (f *fixture) mustFailCommitting(t *testing.T, p *Pipeline, wantErr, committed string) {
	t.Helper()
	err := p.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), wantErr) {
		t.Fatalf("want an error holding %q, got %v", wantErr, err)
	}
	if got := f.in.lastCommit(); got != committed {
		t.Fatalf("position %q must be the last committed, got %q", committed, got)
	}
}

func TestRunWritesEverythingAndCommitsLastPosition(t *testing.T) {
	f := newFixture(&testInput{batches: [][]string{{`{"n":1}`, `{"n":2}`}, {`{"n":3}`}}})
	p := f.build(t, `
input: {scripted: {}}
pipeline:
  processors:
    - eval: 'value.n * 10'
output: {collect: {name: main}}
`)
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(f.outs["main"].values(), ","), "10,20,30"; got != want {
		t.Fatalf("output %q, want %q", got, want)
	}
	if got := f.in.lastCommit(); got != "2" {
		t.Fatalf("last commit %q, want position 2", got)
	}
	if !f.in.closed || !f.outs["main"].closed {
		t.Fatal("input and output must be closed after the run")
	}
}

func TestFailedRecordsGoToDeadLetterWithTheirError(t *testing.T) {
	f := newFixture(&testInput{batches: [][]string{{`{"n":1}`, `{"x":2}`, `{"n":3}`, `not json`}}})
	p := f.build(t, `
input: {scripted: {}}
pipeline:
  processors:
    - eval: 'value.n + 1'
output: {collect: {name: main}}
on_error: dead_letter
dead_letter: {collect: {name: dlq}}
`)
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(f.outs["main"].values(), ","), "2,4"; got != want {
		t.Fatalf("main output %q, want %q", got, want)
	}
	dlq := f.outs["dlq"]
	// Invalid JSON fails at intake, before the processor's failure.
	if got, want := strings.Join(dlq.values(), "|"), `not json|{"x":2}`; got != want {
		t.Fatalf("dead letters %q, want the original values %q", got, want)
	}
	h := dlq.headers[1]
	if h["error_component"] != "pipeline.processors.0" || h["error_source"] != "record at p:1" || !strings.Contains(h["error"], "value.n + 1") {
		t.Fatalf("dead-letter headers %v", h)
	}
	if !strings.Contains(dlq.headers[0]["error"], "not valid JSON") {
		t.Fatalf("invalid JSON error header %q", dlq.headers[0]["error"])
	}
	if f.in.lastCommit() != "1" {
		t.Fatalf("dead-lettered records are handled: position 1 must be committed, got %q", f.in.lastCommit())
	}
}

func TestStopOnErrorFailsWithoutCommittingTheBatch(t *testing.T) {
	f := newFixture(&testInput{batches: [][]string{{`{"n":1}`}, {`{"n":2}`, `{"bad":true}`}, {`{"n":4}`}}})
	p := f.build(t, `
input: {scripted: {}}
pipeline:
  processors:
    - eval: 'value.n + 1'
output: {collect: {name: main}}
commit_interval: 1h
`)
	f.mustFailCommitting(t, p, "pipeline.processors.0: record at p:101:", "1")
}

func TestFailedWritesAreRetriedThenStopWithoutCommit(t *testing.T) {
	f := newFixture(&testInput{batches: [][]string{{`1`}, {`2`}}})
	f.outs["main"] = &testOutput{failures: 2}
	p := f.build(t, `
input: {scripted: {}}
output: {collect: {name: main}}
output_retry: {max_retries: 3, initial_backoff: 1ms}
`)
	if err := p.Run(context.Background()); err != nil {
		t.Fatalf("two failures then success must be retried through: %v", err)
	}
	if got := strings.Join(f.outs["main"].values(), ","); got != "1,2" {
		t.Fatalf("output %q", got)
	}

	f = newFixture(&testInput{batches: [][]string{{`1`}, {`2`}}})
	f.outs["main"] = &testOutput{failures: 100}
	p = f.build(t, `
input: {scripted: {}}
output: {collect: {name: main}}
output_retry: {max_retries: 2, initial_backoff: 1ms}
`)
	f.mustFailCommitting(t, p, "output: write failed after 2 retries: sink unavailable", "")
}

func TestCancelDrainsEverythingAlreadyRead(t *testing.T) {
	var batches [][]string
	for i := 0; i < 50; i++ {
		batches = append(batches, []string{strconv.Itoa(i)})
	}
	in := &testInput{batches: batches, blockLast: true}
	f := newFixture(in)
	gate := make(chan struct{})
	f.outs["main"] = &testOutput{gate: gate}
	p := f.build(t, `
input: {scripted: {}}
output: {collect: {name: main}}
max_in_flight: 8
commit_interval: 1h
`)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	// The output lets 3 writes through, then stalls: reading must stop at
	// the in-flight cap instead of buffering everything.
	for i := 0; i < 3; i++ {
		gate <- struct{}{}
	}
	time.Sleep(50 * time.Millisecond)
	in.mu.Lock()
	read := in.next
	in.mu.Unlock()
	if read > 3+8+1 {
		t.Fatalf("read %d batches with 3 written and max_in_flight 8: no backpressure", read)
	}
	cancel()
	close(gate) // the sink recovers during the drain
	if err := <-done; err != nil {
		t.Fatalf("drain: %v", err)
	}
	got := f.outs["main"].values()
	if len(got) != read && len(got) != read-1 {
		t.Fatalf("read %d batches, wrote %d", read, len(got))
	}
	for i, v := range got {
		if v != strconv.Itoa(i) {
			t.Fatalf("output %v is not the input prefix in order", got)
		}
	}
	if want := strconv.Itoa(len(got)); in.lastCommit() != want {
		t.Fatalf("committed %q, want %q (everything written)", in.lastCommit(), want)
	}
}

func TestDrainTimeoutAbandonsUnwrittenWithoutCommit(t *testing.T) {
	in := &testInput{batches: [][]string{{"1"}, {"2"}}, blockLast: true}
	f := newFixture(in)
	f.outs["main"] = &testOutput{gate: make(chan struct{})} // never writes
	p := f.build(t, `
input: {scripted: {}}
output: {collect: {name: main}}
shutdown_timeout: 50ms
`)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for f.outs["main"].writes.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	err := p.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "shutdown_timeout") {
		t.Fatalf("want a drain timeout error, got %v", err)
	}
	if in.lastCommit() != "" {
		t.Fatalf("nothing was written; committed %q", in.lastCommit())
	}
}

func TestFlushAtEndReleasesHeldRecords(t *testing.T) {
	f := newFixture(&testInput{batches: [][]string{{`1`, `2`}, {`3`}}})
	p := f.build(t, `
input: {scripted: {}}
pipeline:
  processors:
    - hold: {}
    - eval: 'upper(value)'
output: {collect: {name: main}}
`)
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.outs["main"].values(), ","); got != "HELD 3" {
		t.Fatalf("flushed output %q, want the held summary run through the rest of the chain", got)
	}
}

func TestBuildReportsEveryErrorWithPosition(t *testing.T) {
	f := newFixture(&testInput{})
	doc, err := config.Load("t.yaml", []byte(`inptu: {scripted: {}}
pipeline:
  processors:
    - eval: 'value +'
    - evl: 'x'
output: {collect: {}}
max_in_flight: many
`), config.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Build(doc, f.reg, BuildOptions{})
	want := []string{
		`t.yaml:1:1: no input: give input (or inputs)`,
		`t.yaml:1:1: inptu: unknown field "inptu", did you mean "input"?`,
		`t.yaml:4:20: pipeline.processors.0.eval.expr: expression: unexpected token EOF`,
		`t.yaml:5:7: pipeline.processors.1.evl: unknown processor "evl", did you mean "eval"?`,
		`t.yaml:6:19: output.collect.name: missing required field "name"`,
		`t.yaml:7:16: max_in_flight: want an integer, got "many"`,
	}
	if err == nil {
		t.Fatal("want errors")
	}
	if got := strings.Split(err.Error(), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestNoGoroutineOutlivesRun(t *testing.T) {
	before := runtime.NumGoroutine()
	for _, blocking := range []bool{false, true} {
		f := newFixture(&testInput{batches: [][]string{{`1`}, {`2`}, {`3`}}, blockLast: blocking})
		p := f.build(t, "input: {scripted: {}}\noutput: {collect: {name: main}}\ncommit_interval: 1ms\n")
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			for len(f.outs["main"].values()) < 3 {
				time.Sleep(time.Millisecond)
			}
			cancel()
		}()
		if err := p.Run(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestJSONWholeNumbersAreIntegersInExpressions(t *testing.T) {
	for _, tt := range []struct{ expr, want string }{
		{`value.n % 5`, "2"},
		{`value.n / 2`, "3.5"},
		{`value.f * 2`, "3"},
		{`value.list[0] % 2`, "1"},
		{`value.big`, "1e+300"},
	} {
		e, err := CompileExpr(config.ExprSource{Text: tt.expr}, AnyResult)
		if err != nil {
			t.Fatal(err)
		}
		out, err := e.Eval(NewRecord([]byte(`{"n": 7, "f": 1.5, "list": [3], "big": 1e300}`), JSON))
		if err != nil {
			t.Fatalf("%s: %v", tt.expr, err)
		}
		if got := fmt.Sprint(out); got != tt.want {
			t.Errorf("%s = %s, want %s", tt.expr, got, tt.want)
		}
	}
}

// TestInvalidJSONFailsAtIntake: a JSON input's value that is not JSON fails
// even when no processor ever reads it, so it cannot reach an output as is.
func TestInvalidJSONFailsAtIntake(t *testing.T) {
	f := newFixture(&testInput{batches: [][]string{{`{"n":1}`, `{"n":`, `[2]`}}})
	p := f.build(t, `
input: {scripted: {}}
output: {collect: {name: main}}
on_error: dead_letter
dead_letter: {collect: {name: dlq}}
`)
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(f.outs["main"].values(), ","), `{"n":1},[2]`; got != want {
		t.Fatalf("main output %q, want %q", got, want)
	}
	dlq := f.outs["dlq"]
	if got, want := strings.Join(dlq.values(), "|"), `{"n":`; got != want {
		t.Fatalf("dead letters %q, want %q", got, want)
	}
	if h := dlq.headers[0]; h["error_component"] != "input" || !strings.Contains(h["error"], "not valid JSON") || h["error_source"] != "record at p:1" {
		t.Fatalf("dead-letter headers %v", h)
	}
}

// slowStartInput's Start waits until its context ends, as a Kafka input does
// while no broker answers.
type slowStartInput struct {
	testInput
	starting chan struct{}
	startCtx context.Context // when set, Start gives up when it ends instead
}

func (in *slowStartInput) Start(ctx context.Context) error {
	close(in.starting)
	if in.startCtx != nil {
		ctx = in.startCtx
	}
	<-ctx.Done()
	return fmt.Errorf("connecting: %w", ctx.Err())
}

// A stop requested while the pipeline is still starting ends the run
// cleanly: nothing was read, so nothing is lost and there is no failure to
// report. A start that fails by itself is still a failure.
func TestStopWhileStartingIsClean(t *testing.T) {
	in := &slowStartInput{starting: make(chan struct{})}
	f := newFixture(nil)
	f.reg.AddInput(InputPlugin{Spec: config.Spec{Name: "slow"}, New: func(*config.Parsed, *Resources) (Input, error) { return in, nil }})
	p := f.build(t, `
input: {slow: {}}
output: {collect: {name: main}}
`)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	<-in.starting
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("a stop during start-up: %v, want a clean end", err)
	}
	if !f.outs["main"].closed {
		t.Fatal("the output started before the input was not closed")
	}

	failing := &slowStartInput{starting: make(chan struct{})}
	f.reg.AddInput(InputPlugin{Spec: config.Spec{Name: "slow2"}, New: func(*config.Parsed, *Resources) (Input, error) { return failing, nil }})
	p = f.build(t, `
input: {slow2: {}}
output: {collect: {name: main}}
`)
	timeout, cancelTimeout := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelTimeout()
	// Not a stop request: the start's own deadline (the run's context stays live).
	failing.startCtx = timeout
	if err := p.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "connecting: context deadline exceeded") {
		t.Fatalf("a start that failed by itself: %v, want the failure", err)
	}
}
