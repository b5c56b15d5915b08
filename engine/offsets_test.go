package engine

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/statestore"
)

// runWords runs yaml (with ${DIR} the state directory) over inputs, by
// name ("words", "more"), and returns what the output got.
func runWords(t *testing.T, dir, yaml string, inputs map[string]Input) []string {
	t.Helper()
	out := &testOutput{}
	reg := NewRegistry()
	for name, in := range inputs {
		reg.AddInput(InputPlugin{Spec: config.Spec{Name: name}, New: func(*config.Parsed, *Resources) (Input, error) { return in, nil }})
	}
	reg.AddProcessor(ProcessorPlugin{Spec: config.Spec{Name: "tally"}, New: func(_ *config.Parsed, res *Resources) (Processor, error) {
		store, err := res.KeyValue("counts")
		return &countProcessor{store: store, pass: true}, err
	}})
	reg.AddOutput(OutputPlugin{Spec: config.Spec{Name: "collect"}, New: func(*config.Parsed, *Resources) (Output, error) { return out, nil }})
	doc, err := config.Load("s.yaml", []byte(strings.ReplaceAll(yaml, "${DIR}", strconv.Quote(dir))), config.LoadOptions{})
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

// TestStatelessPipelineResumes: a pipeline without state keeps the positions
// of an input that keeps them nowhere else in state.dir, committed after
// the output wrote, and the next run goes on from there instead of reading
// everything again.
func TestStatelessPipelineResumes(t *testing.T) {
	dir := t.TempDir()
	yaml := "input: {words: {}}\noutput: {collect: {}}\nstate: {dir: ${DIR}}\n"
	first := &resumableInput{batches: [][]string{{"a", "b"}, {"c"}}}
	if got := strings.Join(runWords(t, dir, yaml, map[string]Input{"words": first}), ","); got != "a,b,c" {
		t.Fatalf("first run wrote %s", got)
	}
	second := &resumableInput{batches: [][]string{{"a", "b"}, {"c"}, {"d"}}}
	if got := strings.Join(runWords(t, dir, yaml, map[string]Input{"words": second}), ","); got != "d" {
		t.Fatalf("second run wrote %s, want only d: it must resume after what the first run wrote", got)
	}
	if len(second.resumed) != 1 || !second.resumed[0].Position.Equal(IntPosition("n", 2)) {
		t.Fatalf("resumed from %v, want words at 2", second.resumed)
	}
}

// confirmingInput is a resumable input whose source keeps only part of
// its position (SourceConfirmer), like a replication slot.
type confirmingInput struct {
	resumableInput
	committed []Checkpoint
}

func (in *confirmingInput) Commit(_ context.Context, cps []Checkpoint) error {
	in.committed = append(in.committed, cps...)
	return nil
}

func (in *confirmingInput) ConfirmsAtSource() {}

// TestSourceConfirmerResumesFromTheEngine: an input that commits at its
// source but keeps only part of its position there is also resumed from
// the positions the engine keeps, in a stateless pipeline too, and is
// told each commit.
func TestSourceConfirmerResumesFromTheEngine(t *testing.T) {
	dir := t.TempDir()
	yaml := "input: {words: {}}\noutput: {collect: {}}\nstate: {dir: ${DIR}}\n"
	first := &confirmingInput{resumableInput: resumableInput{batches: [][]string{{"a", "b"}, {"c"}}}}
	if got := strings.Join(runWords(t, dir, yaml, map[string]Input{"words": first}), ","); got != "a,b,c" {
		t.Fatalf("first run wrote %s", got)
	}
	if n := len(first.committed); n == 0 || !first.committed[n-1].Position.Equal(IntPosition("n", 2)) {
		t.Fatalf("committed at the source %v, want words at 2 last", first.committed)
	}
	second := &confirmingInput{resumableInput: resumableInput{batches: [][]string{{"a", "b"}, {"c"}, {"d"}}}}
	if got := strings.Join(runWords(t, dir, yaml, map[string]Input{"words": second}), ","); got != "d" {
		t.Fatalf("second run wrote %s, want only d", got)
	}
}

// TestInputsSharingPartitionNamesShareNothing: two inputs whose partitions
// have the same name ("words") get tasks, state shards and positions of
// their own.
func TestInputsSharingPartitionNamesShareNothing(t *testing.T) {
	dir := t.TempDir()
	yaml := "inputs: {a: {words: {}}, b: {more: {}}}\npipeline: {processors: [{tally: {}}]}\noutput: {collect: {}}\nstate: {dir: ${DIR}}\n"
	got := runWords(t, dir, yaml, map[string]Input{
		"words": &resumableInput{batches: [][]string{{"x", "y"}, {"x"}}},
		"more":  &resumableInput{batches: [][]string{{"x"}}},
	})
	if strings.Join(got, ",") != "x,y,x,x" && len(got) != 4 {
		t.Fatalf("wrote %v", got)
	}
	db, err := statestore.Open(dir, statestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store := db.KeyValue("pipeline.processors.0/counts")
	parts, err := store.Partitions()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(parts, " ") != "inputs.a/words inputs.b/words" {
		t.Fatalf("state shards %q, want one per input", parts)
	}
	for part, want := range map[string]string{"inputs.a/words": "2", "inputs.b/words": "1"} {
		v, _, err := store.Shard(part).Get([]byte("x"))
		if err != nil || string(v) != want {
			t.Fatalf("%s: count of x %q (%v), want %s", part, v, err, want)
		}
	}
	for input, want := range map[string]string{"inputs.a": `[{"partition":"words","position":{"n":2}}]`, "inputs.b": `[{"partition":"words","position":{"n":1}}]`} {
		raw, _, err := db.Meta(positionsKey(input))
		if err != nil || string(raw) != want {
			t.Fatalf("%s: positions %s (%v), want %s", input, raw, err, want)
		}
	}
}

func TestCommittedPositionsThatCannotBeReadStopTheStart(t *testing.T) {
	dir := t.TempDir()
	db, err := statestore.Open(dir, statestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// As an earlier version wrote them: a position as a plain string.
	if err := db.Commit(map[string][]byte{positionsKey("input"): []byte(`[{"Partition":"words","Position":"2"}]`)}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	reg, _ := statefulFixture(t, &resumableInput{batches: [][]string{{"a"}}}, "")
	doc, _ := config.Load("s.yaml", []byte("input: {words: {}}\noutput: {collect: {}}\nstate: {dir: "+strconv.Quote(dir)+"}\n"), config.LoadOptions{})
	p, err := Build(doc, reg, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	err = p.Run(context.Background())
	want := `input: the committed positions [{"Partition":"words","Position":"2"}] cannot be read: position "2": want a JSON object`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("got  %v\nwant %s…", err, want)
	}
}

// TestEmptyBatchAdvancesThePosition: a batch without records but with a
// position (a CDC input's heartbeat: the log moved on, none of it was the
// input's) is committed like any other, so that a restart does not read
// that stretch of the log again, nor need it kept.
func TestEmptyBatchAdvancesThePosition(t *testing.T) {
	dir := t.TempDir()
	yaml := "input: {words: {}}\noutput: {collect: {}}\nstate: {dir: ${DIR}}\n"
	in := &resumableInput{batches: [][]string{{"a"}, {}, {}}}
	if got := strings.Join(runWords(t, dir, yaml, map[string]Input{"words": in}), ","); got != "a" {
		t.Fatalf("wrote %s", got)
	}
	db, err := statestore.Open(dir, statestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	raw, _, err := db.Meta(positionsKey("input"))
	if want := `[{"partition":"words","position":{"n":3}}]`; err != nil || string(raw) != want {
		t.Fatalf("positions %s (%v), want %s", raw, err, want)
	}
}
