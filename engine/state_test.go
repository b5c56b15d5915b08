package engine

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/config"
)

// resumableInput serves numbered batches of one partition and, like the file
// input, skips what a committed position says was read.
type resumableInput struct {
	batches [][]string
	next    int
	resumed []Checkpoint
}

func (in *resumableInput) Resume(points []Checkpoint) error {
	in.resumed = points
	for _, p := range points {
		n, err := p.Position.Int("n")
		if err != nil {
			return err
		}
		in.next = int(n)
	}
	return nil
}

func (in *resumableInput) Read(context.Context) (InputBatch, error) {
	if in.next >= len(in.batches) {
		return InputBatch{}, io.EOF
	}
	i := in.next
	in.next++
	var recs []*Record
	for _, v := range in.batches[i] {
		recs = append(recs, NewRecord([]byte(v), Text))
	}
	return InputBatch{Records: recs, Partition: "words", Position: IntPosition("n", int64(i+1))}, nil
}

func (in *resumableInput) Close(context.Context) error { return nil }

// countProcessor keeps a count per value in a key-value store and emits the
// whole table at the end of input, like a word count.
type countProcessor struct {
	store *KeyValueState
	mu    sync.Mutex
	parts []string
	fail  string // a value that makes the processor fail after counting it
	pass  bool   // hand the records on instead of consuming them
}

func (p *countProcessor) Process(_ context.Context, b *Batch) error {
	shard := p.store.Shard(b.Partition)
	p.mu.Lock()
	p.parts = append(p.parts, b.Partition)
	p.mu.Unlock()
	for _, r := range b.Records {
		v, _ := r.Value()
		word := v.(string)
		old, _, err := shard.Get([]byte(word))
		if err != nil {
			return err
		}
		n, _ := strconv.Atoi(string(old))
		shard.Put([]byte(word), []byte(strconv.Itoa(n+1)))
		if word == p.fail {
			return errors.New("boom")
		}
	}
	if !p.pass {
		b.Records = b.Records[:0]
	}
	return nil
}

func (p *countProcessor) Flush(_ context.Context, b *Batch) (bool, error) {
	return false, p.store.Shard("words").Range(nil, nil, func(k, v []byte) bool {
		b.Records = append(b.Records, NewDerived(&Record{}, string(k)+"="+string(v)))
		return true
	})
}

func statefulFixture(t *testing.T, in Input, fail string) (*Registry, *testOutput) {
	out := &testOutput{}
	reg := NewRegistry()
	reg.AddInput(InputPlugin{Spec: config.Spec{Name: "words"}, New: func(*config.Parsed, *Resources) (Input, error) { return in, nil }})
	reg.AddProcessor(ProcessorPlugin{Spec: config.Spec{Name: "count"}, New: func(_ *config.Parsed, res *Resources) (Processor, error) {
		store, err := res.KeyValue("counts")
		return &countProcessor{store: store, fail: fail}, err
	}})
	reg.AddProcessor(ProcessorPlugin{Spec: config.Spec{Name: "tally"}, New: func(_ *config.Parsed, res *Resources) (Processor, error) {
		store, err := res.KeyValue("counts")
		return &countProcessor{store: store, pass: true}, err
	}})
	reg.AddOutput(OutputPlugin{Spec: config.Spec{Name: "collect"}, New: func(*config.Parsed, *Resources) (Output, error) { return out, nil }})
	return reg, out
}

func runStateful(t *testing.T, dir string, in Input, fail string) ([]string, error) {
	t.Helper()
	reg, out := statefulFixture(t, in, fail)
	doc, err := config.Load("s.yaml", []byte("input: {words: {}}\npipeline: {processors: [{count: {}}]}\noutput: {collect: {}}\nstate: {dir: "+strconv.Quote(dir)+"}\ncommit_interval: 1h\n"), config.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := Build(doc, reg, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	err = p.Run(context.Background())
	return out.values(), err
}

func TestStateAndPositionsCommitTogetherAndResume(t *testing.T) {
	dir := t.TempDir()
	first := &resumableInput{batches: [][]string{{"a", "b"}, {"a"}}}
	got, err := runStateful(t, dir, first, "")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "a=2,b=1" {
		t.Fatalf("first run emitted %v", got)
	}
	// The file grew by one batch: the second run reads only that one, and
	// its counts continue from the committed state.
	second := &resumableInput{batches: [][]string{{"a", "b"}, {"a"}, {"b", "c"}}}
	got, err = runStateful(t, dir, second, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(second.resumed) != 1 || second.resumed[0].Partition != "words" || !second.resumed[0].Position.Equal(IntPosition("n", 2)) {
		t.Fatalf("resumed from %v, want words at 2", second.resumed)
	}
	if strings.Join(got, ",") != "a=2,b=2,c=1" {
		t.Fatalf("second run emitted %v", got)
	}
}

func TestFailedRunCommitsNoState(t *testing.T) {
	dir := t.TempDir()
	if _, err := runStateful(t, dir, &resumableInput{batches: [][]string{{"a"}}}, ""); err != nil {
		t.Fatal(err)
	}
	// This run counts "b" and "x", then fails on "x": neither count, nor the
	// position past them, may be committed.
	_, err := runStateful(t, dir, &resumableInput{batches: [][]string{{"a"}, {"b", "x"}}}, "x")
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("want the processor's failure, got %v", err)
	}
	third := &resumableInput{batches: [][]string{{"a"}, {"b", "x"}, {"c"}}}
	got, err := runStateful(t, dir, third, "")
	if err != nil {
		t.Fatal(err)
	}
	if !third.resumed[0].Position.Equal(IntPosition("n", 1)) {
		t.Fatalf("resumed at %v, want after the first batch only", third.resumed)
	}
	if strings.Join(got, ",") != "a=1,b=1,c=1,x=1" {
		t.Fatalf("after a failed run the counts are %v; the failed batch must be counted exactly once", got)
	}
}

func TestStoresAreNamedByTheirComponent(t *testing.T) {
	reg, _ := statefulFixture(t, &resumableInput{}, "")
	doc, _ := config.Load("s.yaml", []byte("input: {words: {}}\npipeline: {processors: [{count: {}}, {count: {}}]}\noutput: {collect: {}}\n"), config.LoadOptions{})
	p, err := Build(doc, reg, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(p.state.stores); got != 2 || p.state.stores["pipeline.processors.1/counts"].owner != "pipeline.processors.1" {
		t.Fatalf("stores %v", p.state.stores)
	}
	if p.state.dir != "state/s" {
		t.Fatalf("default state dir %q", p.state.dir)
	}
}

func TestDrainTimeoutCommitsNoState(t *testing.T) {
	dir := t.TempDir()
	in := &resumableInput{batches: [][]string{{"a"}, {"b"}}}
	reg, out := statefulFixture(t, in, "")
	out.gate = make(chan struct{}) // the sink never accepts a write
	doc, err := config.Load("s.yaml", []byte("input: {words: {}}\npipeline: {processors: [{tally: {}}]}\noutput: {collect: {}}\nstate: {dir: "+strconv.Quote(dir)+"}\nshutdown_timeout: 50ms\n"), config.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// tally counts in state and passes records on, so that a write is
	// attempted and abandoned.
	p, err := Build(doc, reg, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for out.writes.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	if err := p.Run(ctx); err == nil || !strings.Contains(err.Error(), "shutdown_timeout") {
		t.Fatalf("want a drain timeout, got %v", err)
	}
	got, err := runStateful(t, dir, &resumableInput{batches: [][]string{{"a"}, {"b"}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "a=1,b=1" {
		t.Fatalf("after an abandoned drain the counts are %v: the first run's state must not have been committed", got)
	}
}

// A stateful component keeps its state while its path and definition stay
// the same, whatever else of the pipeline changes (as across a hot reload);
// a changed definition starts fresh.
func TestStateKeptUnlessItsComponentChanged(t *testing.T) {
	dir := t.TempDir()
	run := func(procs, output string, batches [][]string) []string {
		t.Helper()
		reg, out := statefulFixture(t, &resumableInput{batches: batches}, "")
		doc, err := config.Load("s.yaml", []byte("input: {words: {}}\npipeline: {processors: ["+procs+"]}\noutput: "+output+
			"\nstate: {dir: "+strconv.Quote(dir)+"}\n"), config.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p, err := Build(doc, reg, BuildOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		return out.values()
	}
	batches := [][]string{{"a", "b"}, {"a"}}
	if got := strings.Join(run("{count: {}}", "{collect: {}}", batches[:1]), ","); got != "a=1,b=1" {
		t.Fatalf("first run: %s", got)
	}
	// Only the output changed (a label here): the counts go on.
	if got := strings.Join(run("{count: {}}", "{collect: {}, label: elsewhere}", batches), ","); got != "a=2,b=1" {
		t.Fatalf("after a change of the output only: %s, want the counts kept (a=2,b=1)", got)
	}
	// The counting component itself changed: its state starts fresh, and
	// the input goes on from where it was.
	batches = append(batches, []string{"b", "c"})
	if got := strings.Join(run("{count: {}, label: recount}", "{collect: {}}", batches), ","); got != "b=1,c=1" {
		t.Fatalf("after a change of the counting component: %s, want fresh counts (b=1,c=1)", got)
	}
}
