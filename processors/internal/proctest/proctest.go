package proctest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/processors"
)

// File is the name test configs are loaded as; errors start with it.
const File = "t.yaml"

// Harness builds and runs pipelines whose input is `fixed: {}` (it replays
// Batches, as partition "p") and whose outputs are `collect: {}` (each
// keeps what it is given, under its label: "collect" for output:, the map
// key for outputs:, "dead_letter" for dead_letter:).
type Harness struct {
	Batches [][]*engine.Record
	Logger  *slog.Logger
	// Extra registers further components, such as test processors.
	Extra []func(*engine.Registry)
	// Partitions spreads the batches round-robin over this many partitions
	// ("p", "p1", "p2", …), which the engine processes concurrently.
	// Zero or one: all are partition "p".
	Partitions int

	mu      sync.Mutex
	outs    map[string][]Out
	decoded map[string][]any
}

// Out is one record an output wrote, as plain values.
type Out struct {
	Key       string
	NoKey     bool // the record had no key (nil)
	Value     string
	Tombstone bool     // the record had no value (nil); Value is empty
	Headers   []string // "key=value", in order
	Timestamp int64
}

// Header returns the first header named key.
func (o Out) Header(key string) (string, bool) {
	for _, h := range o.Headers {
		if k, v, _ := cut(h); k == key {
			return v, true
		}
	}
	return "", false
}

func cut(h string) (string, string, bool) {
	for i := 0; i < len(h); i++ {
		if h[i] == '=' {
			return h[:i], h[i+1:], true
		}
	}
	return h, "", false
}

// New returns a harness replaying the given batches.
func New(batches ...[]*engine.Record) *Harness {
	return &Harness{Batches: batches, outs: map[string][]Out{}, decoded: map[string][]any{}}
}

// JSON makes records of JSON values.
func JSON(values ...string) []*engine.Record {
	return records(engine.JSON, values)
}

// Text makes records of text values.
// Tombstones makes records without a value, one per key, as a JSON input
// reads them.
func Tombstones(keys ...string) []*engine.Record {
	recs := make([]*engine.Record, len(keys))
	for i, k := range keys {
		recs[i] = engine.NewRecord(nil, engine.JSON)
		recs[i].SetKeyFromInput([]byte(k))
	}
	return recs
}

func Text(values ...string) []*engine.Record {
	return records(engine.Text, values)
}

func records(f engine.Format, values []string) []*engine.Record {
	out := make([]*engine.Record, len(values))
	for i, v := range values {
		out[i] = engine.NewRecord([]byte(v), f)
	}
	return out
}

// Registry is the built-in processors, the fixed input and the collect output.
func (h *Harness) Registry() *engine.Registry {
	return engine.NewRegistry(append([]func(*engine.Registry){processors.Register, h.register}, h.Extra...)...)
}

func (h *Harness) register(r *engine.Registry) {
	r.AddInput(engine.InputPlugin{
		Spec: config.Spec{Name: "fixed", Summary: "Replays the harness's batches."},
		New: func(_ *config.Parsed, res *engine.Resources) (engine.Input, error) {
			return &input{h: h, label: res.Label, srcs: map[string]*engine.Source{}, offs: map[string]int64{}}, nil
		},
	})
	r.AddOutput(engine.OutputPlugin{
		Spec: config.Spec{Name: "collect", Summary: "Keeps what it is given."},
		New: func(_ *config.Parsed, res *engine.Resources) (engine.Output, error) {
			return &output{h: h, label: res.Label}, nil
		},
	})
}

// Build loads and builds a config.
func (h *Harness) Build(yamlText string) (*engine.Pipeline, error) {
	doc, err := config.Load(File, []byte(yamlText), config.LoadOptions{LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		return nil, err
	}
	return engine.Build(doc, h.Registry(), engine.BuildOptions{Logger: h.Logger})
}

// Run builds a config (failing the test if it does not build) and runs it
// to the end of the input, returning the run's error.
func (h *Harness) Run(t testing.TB, yamlText string) error {
	t.Helper()
	p, err := h.Build(yamlText)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return p.Run(ctx)
}

// MustRun is Run, failing the test on a run error.
func (h *Harness) MustRun(t testing.TB, yamlText string) {
	t.Helper()
	if err := h.Run(t, yamlText); err != nil {
		t.Fatalf("run: %v", err)
	}
}

// Out returns what the output with the given label wrote.
func (h *Harness) Out(label string) []Out {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Out(nil), h.outs[label]...)
}

// Decoded returns the values the output with the given label was given as
// an expression would see them (Record.Value; its error if it failed).
func (h *Harness) Decoded(label string) []any {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]any(nil), h.decoded[label]...)
}

// Values returns the values the output with the given label wrote.
func (h *Harness) Values(label string) []string {
	var vs []string
	for _, o := range h.Out(label) {
		vs = append(vs, o.Value)
	}
	return vs
}

type input struct {
	h     *Harness
	label string
	srcs  map[string]*engine.Source
	offs  map[string]int64
	next  int
}

func (in *input) Read(ctx context.Context) (engine.InputBatch, error) {
	if err := ctx.Err(); err != nil {
		return engine.InputBatch{}, err
	}
	if in.next >= len(in.h.Batches) {
		return engine.InputBatch{}, io.EOF
	}
	recs := in.h.Batches[in.next]
	part := "p"
	if in.h.Partitions > 1 && in.next%in.h.Partitions > 0 {
		part += strconv.Itoa(in.next % in.h.Partitions)
	}
	in.next++
	src, ok := in.srcs[part]
	if !ok {
		src = &engine.Source{Input: in.label, Partition: part}
		in.srcs[part] = src
	}
	for _, r := range recs {
		if r.Source == nil {
			r.Source = src
			r.Offset = in.offs[part]
		}
		in.offs[part]++
	}
	return engine.InputBatch{Records: recs, Partition: part, Position: engine.IntPosition("offset", in.offs[part])}, nil
}

func (in *input) Close(context.Context) error { return nil }

type output struct {
	h     *Harness
	label string
}

func (o *output) Write(_ context.Context, recs []*engine.Record) error {
	outs, decoded := make([]Out, 0, len(recs)), make([]any, 0, len(recs))
	for _, r := range recs {
		value, err := r.Value()
		if err != nil {
			value = err
		}
		decoded = append(decoded, value)
		v, err := r.Bytes()
		if err != nil {
			return fmt.Errorf("encoding %s: %w", r.Describe(), err)
		}
		out := Out{Key: string(r.Key), NoKey: r.Key == nil, Value: string(v), Tombstone: r.IsTombstone(), Timestamp: r.Timestamp}
		for _, h := range r.Headers {
			out.Headers = append(out.Headers, h.Key+"="+string(h.Value))
		}
		outs = append(outs, out)
	}
	o.h.mu.Lock()
	o.h.outs[o.label] = append(o.h.outs[o.label], outs...)
	o.h.decoded[o.label] = append(o.h.decoded[o.label], decoded...)
	o.h.mu.Unlock()
	return nil
}

func (o *output) Close(context.Context) error { return nil }

// Parse decodes a YAML mapping (the body of one processor) against a spec's
// fields, as the engine does, with path "pipeline.processors.0.<name>".
func Parse(t testing.TB, spec config.Spec, body string) *config.Parsed {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	var n *yaml.Node
	if len(doc.Content) > 0 {
		n = doc.Content[0]
	}
	conf, errs := config.Parse(File, "pipeline.processors.0."+spec.Name, n, spec.Fields)
	if len(errs) > 0 {
		t.Fatalf("parse: %v", errs)
	}
	return conf
}

// Resources are what a constructor gets outside a build: no nested
// processors or outputs may be resolved with them.
func Resources(logger *slog.Logger) *engine.Resources {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &engine.Resources{Label: "test", Path: "pipeline.processors.0", Logger: logger}
}

// Process runs a processor over records that no processor may fail (a
// Batch made outside the engine cannot take failures), for benchmarks.
func Process(p engine.Processor, recs []*engine.Record) ([]*engine.Record, error) {
	b := &engine.Batch{Records: recs}
	err := p.Process(context.Background(), b)
	return b.Records, err
}

// Pipeline is a config around a processor list (YAML list items, indented by
// four spaces or not at all): the fixed input, the collect output, and
// failures to the collect dead_letter output. The first processor stands on
// line 7.
func Pipeline(procs string) string {
	return "input: { fixed: {} }\n" +
		"output: { collect: {} }\n" +
		"on_error: dead_letter\n" +
		"dead_letter: { collect: {} }\n" +
		"pipeline:\n" +
		"  processors:\n" +
		indent(procs)
}

func indent(s string) string {
	if len(s) > 0 && s[0] == ' ' {
		return s
	}
	out := make([]byte, 0, len(s)+64)
	atLineStart := true
	for i := 0; i < len(s); i++ {
		if atLineStart && s[i] != '\n' {
			out = append(out, "    "...)
		}
		out = append(out, s[i])
		atLineStart = s[i] == '\n'
	}
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	return string(out)
}
