package branch_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/processors/branch"
	"github.com/pipelinehq/pipeline/processors/internal/proctest"
)

const head = `input: { fixed: {} }
output: { collect: {} }
outputs:
  orders: { collect: {} }
  audit: { collect: {} }
on_error: dead_letter
dead_letter: { collect: {} }
pipeline:
  processors:
`

func TestBranchRoutes(t *testing.T) {
	h := proctest.New(
		proctest.JSON(`{"type":"order","n":1}`, `{"type":"ping","n":2}`, `{"type":"note","n":3}`, `{"type":"other","n":4}`),
		proctest.JSON(`{"type":"note","n":5}`, `{"type":"order","n":6}`, `{"n":7}`),
	)
	h.MustRun(t, head+`
    - branch:
        cases:
          - when: 'value.type == "order"'
            processors:
              - map: { set: { routed: 'true' } }
            output: orders
          - when: 'value.type == "ping"'
            processors:
              - filter: 'false'
          - when: 'value.type == "note" || value.type == "order"'
            processors:
              - map: { set: { noted: 'true' } }
        default:
          output: audit
    - map: { set: { after: 'true' } }
`)
	proctest.Equal(t, "orders", h.Values("orders"), []string{
		`{"n":1,"routed":true,"type":"order"}`, `{"n":6,"routed":true,"type":"order"}`})
	proctest.Equal(t, "main", h.Values("collect"), []string{
		`{"after":true,"n":3,"noted":true,"type":"note"}`, `{"after":true,"n":5,"noted":true,"type":"note"}`})
	proctest.Equal(t, "audit", h.Values("audit"), []string{`{"type":"other","n":4}`, `{"n":7}`})
	proctest.Equal(t, "failed", h.Failures(t, ""), []proctest.Failed(nil))
}

func TestBranchKeepsInputOrder(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		procs string
		want  []string
	}{
		{
			name: "cases, unmatched and default interleaved",
			in:   "a1 b1 c1 a2 x1 b2 a3 c2",
			procs: `
    - branch:
        cases:
          - when: 'value startsWith "a"'
            processors: [ { map: { value: 'upper(value)' } } ]
          - when: 'value startsWith "b"'
            processors: [ { flat_map: '[value + ".1", value + ".2"]' } ]
          - when: 'value startsWith "c"'
`,
			want: []string{"A1", "b1.1", "b1.2", "c1", "A2", "x1", "b2.1", "b2.2", "A3", "c2"},
		},
		{
			name: "with a default that continues",
			in:   "x1 a1 x2 x3 a2",
			procs: `
    - branch:
        cases:
          - when: 'value startsWith "a"'
        default:
          processors: [ { map: { value: 'value + "!"' } } ]
`,
			want: []string{"x1!", "a1", "x2!", "x3!", "a2"},
		},
		{
			name: "records some cases drop or route",
			in:   "a1 o1 d1 a2 o2 d2 a3",
			procs: `
    - branch:
        cases:
          - when: 'value startsWith "o"'
            output: orders
          - when: 'value startsWith "d"'
            processors: [ { filter: 'false' } ]
        default:
          processors: [ { map: { value: 'upper(value)' } } ]
`,
			want: []string{"A1", "A2", "A3"},
		},
		{
			name: "after a flat_map, derived records stay together",
			in:   "a:b c:d e",
			procs: `
    - flat_map: 'split(value, ":")'
    - branch:
        cases:
          - when: 'value in ["b", "d"]'
            processors: [ { map: { value: 'upper(value)' } } ]
`,
			want: []string{"a", "B", "c", "D", "e"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := proctest.New(proctest.Text(strings.Fields(tt.in)...))
			h.MustRun(t, head+tt.procs)
			proctest.Equal(t, "main", h.Values("collect"), tt.want)
			proctest.Equal(t, "failed", h.Failures(t, ""), []proctest.Failed(nil))
		})
	}
}

func TestBranchFailures(t *testing.T) {
	h := proctest.New(proctest.JSON(`{"n":1}`, `{"n":"x"}`, `{"n":2,"v":"s"}`, `{"n":3}`, `nope`))
	h.MustRun(t, head+`
    - branch:
        cases:
          - when: 'value.n > 1'
            processors:
              - map: { value: 'value.v + 1' }
            output: orders
`)
	proctest.Equal(t, "main", h.Values("collect"), []string{`{"n":1}`})
	proctest.Equal(t, "orders", h.Values("orders"), []string(nil))
	var got []proctest.Failed
	for _, o := range h.Out("dead_letter") {
		msg, _ := o.Header("error")
		comp, _ := o.Header("error_component")
		src, _ := o.Header("error_source")
		got = append(got, proctest.Failed{Value: o.Value + " @" + comp + " " + src, Error: proctest.FirstLine(msg)})
	}
	proctest.Equal(t, "failed", got, []proctest.Failed{
		// Invalid JSON fails at intake, before any processor.
		{Value: `nope @input record at p:4`, Error: "value is not valid JSON: invalid character 'o' in literal null (expecting 'u')"},
		{Value: `{"n":"x"} @pipeline.processors.0 record at p:1`, Error: "cases.0.when: value.n > 1: invalid operation: string > int (column 9)"},
		{Value: `{"n":2,"v":"s"} @pipeline.processors.0.branch.cases.0.processors.0 record at p:2`, Error: "value: value.v + 1: invalid operation: string + int (column 9)"},
		{Value: `{"n":3} @pipeline.processors.0.branch.cases.0.processors.0 record at p:3`, Error: "value: value.v + 1: invalid operation: <nil> + int (column 9)"},
	})
}

func TestBranchTerminal(t *testing.T) {
	const terminal = `input: { fixed: {} }
outputs:
  orders: { collect: {} }
  audit: { collect: {} }
pipeline:
  processors:
    - branch:
        cases:
          - when: 'value == "o"'
            output: orders
          - when: 'value == "n"'
            processors:
              - branch:
                  cases: [ { when: 'true', output: audit } ]
                  default: { output: audit }
        default:
          output: audit
`
	h := proctest.New(proctest.Text("o", "n", "x"))
	h.MustRun(t, terminal)
	proctest.Equal(t, "orders", h.Values("orders"), []string{"o"})
	proctest.Equal(t, "audit", h.Values("audit"), []string{"n", "x"})

	// Without the default, records may continue: the pipeline needs an output.
	noDefault := strings.Replace(terminal, "        default:\n          output: audit\n", "", 1)
	_, err := proctest.New().Build(noDefault)
	if err == nil || !strings.Contains(err.Error(), "no output: records that reach the end of pipeline.processors need an output") {
		t.Fatalf("build without default: %v", err)
	}
	// A case that continues makes it non-terminal too.
	continues := strings.Replace(terminal, "            output: orders\n", "", 1)
	if _, err := proctest.New().Build(continues); err == nil {
		t.Fatal("a case without output built without a main output")
	}
}

func TestBranchConfigErrors(t *testing.T) {
	tests := []struct {
		name  string
		procs string
		want  []string
	}{
		{
			name:  "no cases",
			procs: `    - branch: { cases: [] }`,
			want:  []string{"t.yaml:10:24: pipeline.processors.0.branch.cases: give at least one case"},
		},
		{
			name:  "cases missing",
			procs: `    - branch: { default: { output: audit } }`,
			want:  []string{`t.yaml:10:15: pipeline.processors.0.branch.cases: missing required field "cases"`},
		},
		{
			name: "every problem at once",
			procs: `    - branch:
        cases:
          - when: 'value =='
            output: order
          - when: 'false'
            processors: [ { mapp: {} } ]
          - when: 'true'
            processors: [ { map: { value: 'x(' } } ]
        default:
          output: ""
`,
			want: []string{
				"t.yaml:12:27: pipeline.processors.0.branch.cases.0.when: expression: unexpected token EOF",
				`t.yaml:13:21: pipeline.processors.0.branch.cases.0.output: no output named "order" (outputs: audit, orders), did you mean "orders"?`,
				`t.yaml:15:29: pipeline.processors.0.branch.cases.1.processors.0.mapp: unknown processor "mapp", did you mean "map"?`,
				"t.yaml:17:45: pipeline.processors.0.branch.cases.2.processors.0.map.value: expression: unexpected token EOF",
				`t.yaml:19:19: pipeline.processors.0.branch.default.output: no output named "" (outputs: audit, orders)`,
			},
		},
		{
			name: "a case without when",
			procs: `    - branch:
        cases:
          - processors: [ { filter: 'true' } ]
`,
			want: []string{`t.yaml:12:13: pipeline.processors.0.branch.cases.0.when: missing required field "when"`},
		},
		{
			name: "a nested error alone",
			procs: `    - branch:
        cases: [ { when: 'true', processors: [ { filter: '1' } ] } ]
`,
			want: []string{"t.yaml:11:59: pipeline.processors.0.branch.cases.0.processors.0.filter.condition: expression: expected bool, but got int"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := proctest.New().Build(head + tt.procs)
			if err == nil {
				t.Fatal("built without error")
			}
			proctest.Equal(t, "errors", strings.Split(err.Error(), "\n"), tt.want)
		})
	}
}

// events records the lifecycle calls of test processors, in order.
type events struct {
	mu   sync.Mutex
	list []string
}

func (e *events) add(s string) {
	e.mu.Lock()
	e.list = append(e.list, s)
	e.mu.Unlock()
}

func (e *events) get() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.list...)
}

// hold is a test processor that holds every record until Flush, and logs
// its lifecycle; `fail_start: true` makes Start fail.
type hold struct {
	name      string
	ev        *events
	failStart bool
	mu        sync.Mutex
	held      []*engine.Record
}

func holdPlugin(ev *events) func(*engine.Registry) {
	return func(r *engine.Registry) {
		r.AddProcessor(engine.ProcessorPlugin{
			Spec: config.Spec{Name: "hold", Summary: "Holds records until the end of input.", Fields: []config.Field{
				config.String("name", "Its name in events.").Required(),
				config.Bool("fail_start", "Fail to start.").Default(false),
			}},
			New: func(conf *config.Parsed, _ *engine.Resources) (engine.Processor, error) {
				return &hold{name: conf.String("name"), ev: ev, failStart: conf.Bool("fail_start")}, nil
			},
		})
	}
}

func (p *hold) Process(_ context.Context, b *engine.Batch) error {
	p.mu.Lock()
	p.held = append(p.held, b.Records...)
	p.mu.Unlock()
	b.Records = nil
	return nil
}

func (p *hold) Flush(_ context.Context, b *engine.Batch) (bool, error) {
	p.ev.add("flush " + p.name)
	p.mu.Lock()
	b.Records = append(b.Records, p.held...)
	p.held = nil
	p.mu.Unlock()
	return false, nil
}

func (p *hold) Start(context.Context) error {
	p.ev.add("start " + p.name)
	if p.failStart {
		return errors.New("cannot start")
	}
	return nil
}

func (p *hold) Close(context.Context) error {
	p.ev.add("close " + p.name)
	return nil
}

func TestBranchFlushStartClose(t *testing.T) {
	ev := &events{}
	h := proctest.New(proctest.Text("a1", "b1", "c1"), proctest.Text("a2", "b2"))
	h.Extra = append(h.Extra, holdPlugin(ev))
	h.MustRun(t, head+`
    - branch:
        cases:
          - when: 'value startsWith "a"'
            processors:
              - hold: { name: A }
              - map: { value: 'upper(value)' }
            output: orders
          - when: 'value startsWith "b"'
            processors:
              - hold: { name: B }
        default:
          processors:
            - map: { value: 'value + "!"' }
    - map: { value: 'value + "."' }
`)
	proctest.Equal(t, "orders", h.Values("orders"), []string{"A1", "A2"})
	proctest.Equal(t, "main", h.Values("collect"), []string{"c1!.", "b1.", "b2."})
	proctest.Equal(t, "events", ev.get(), []string{"start A", "start B", "flush A", "flush B", "close A", "close B"})
}

func TestBranchStartFailure(t *testing.T) {
	ev := &events{}
	h := proctest.New(proctest.Text("a"))
	h.Extra = append(h.Extra, holdPlugin(ev))
	err := h.Run(t, head+`
    - branch:
        cases:
          - when: 'true'
            processors: [ { hold: { name: A } } ]
          - when: 'true'
            processors: [ { hold: { name: B, fail_start: true } } ]
`)
	if err == nil || err.Error() != "pipeline.processors.0: start: pipeline.processors.0.branch.cases.1.processors.0: cannot start" {
		t.Fatalf("run error = %v", err)
	}
	proctest.Equal(t, "events", ev.get(), []string{"start A", "start B", "close A"})
}

func TestBranchSpec(t *testing.T) {
	spec := branch.Plugin().Spec
	if spec.Name != "branch" || spec.Summary == "" {
		t.Fatalf("spec: %+v", spec)
	}
	cases, _ := spec.Field("cases")
	for _, f := range append(cases.Fields, spec.Fields...) {
		if f.Description == "" {
			t.Errorf("field %s: no description", f.Name)
		}
	}
	ex := strings.ReplaceAll(spec.Example, "stdout", "collect")
	if _, err := proctest.New().Build("input: { fixed: {} }\noutput: { collect: {} }\n" + ex); err != nil {
		t.Fatalf("example: %v", err)
	}
}

// TestBranchConcurrentPartitions runs partitions concurrently through one
// branch (and the maps and filters nested in it), for the race detector.
func TestBranchConcurrentPartitions(t *testing.T) {
	h := proctest.New()
	h.Partitions = 4
	want := map[string]int{}
	for b := range 40 {
		var vals []string
		for i := range 25 {
			n := b*25 + i
			vals = append(vals, `{"n":`+strconv.Itoa(n)+`}`)
			switch {
			case n%3 == 0:
				want["orders"]++
			case n%3 == 1:
				want["collect"]++
			}
		}
		h.Batches = append(h.Batches, proctest.JSON(vals...))
	}
	h.MustRun(t, head+`
    - branch:
        cases:
          - when: 'int(value.n) % 3 == 0'
            processors: [ { map: { set: { "m.k": 'value.n' } } } ]
            output: orders
          - when: 'int(value.n) % 3 == 1'
            processors: [ { map: { key: 'value.n' } } ]
        default:
          processors: [ { filter: 'false' } ]
`)
	got := map[string]int{"orders": len(h.Out("orders")), "collect": len(h.Out("collect"))}
	proctest.Equal(t, "counts", got, want)
	// Within a partition, order holds.
	last := map[string]int{}
	for _, o := range h.Out("collect") {
		n, _ := strconv.Atoi(o.Key)
		part := strconv.Itoa(n / 25 % 4)
		if n < last[part] {
			t.Fatalf("partition %s out of order: %d after %d", part, n, last[part])
		}
		last[part] = n
	}
}
