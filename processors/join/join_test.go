package join_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/inputs/kafka"
	"github.com/pipelinehq/pipeline/processors/internal/proctest"
)

// The table of these tests is a topic of an in-process broker (kfake), read
// by the kafka input; the stream is the harness's fixed input, or a
// channel the test feeds (streamInput).

// newCluster starts a broker with the customers topic in two partitions:
// a table is read from every partition.
func newCluster(t *testing.T) []string {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "customers"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	return cluster.ListenAddrs()
}

func newClient(t *testing.T, brokers []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	c, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// row is a table record: a key and a JSON value, or a tombstone (value "").
type row struct{ key, value string }

func (r row) record(topic string) *kgo.Record {
	rec := &kgo.Record{Topic: topic, Key: []byte(r.key)}
	if r.value != "" {
		rec.Value = []byte(r.value)
	}
	return rec
}

// put writes table records, in order per key (a key's records go to one
// partition).
func put(t *testing.T, brokers []string, rows ...row) {
	t.Helper()
	c := newClient(t, brokers)
	var recs []*kgo.Record
	for _, r := range rows {
		recs = append(recs, r.record("customers"))
	}
	if err := c.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// putInTransaction writes rows in one transaction, committed or aborted.
func putInTransaction(t *testing.T, brokers []string, commit bool, rows ...row) {
	t.Helper()
	c := newClient(t, brokers, kgo.TransactionalID(fmt.Sprintf("writer-%t-%d", commit, time.Now().UnixNano())))
	ctx := context.Background()
	if err := c.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := c.ProduceSync(ctx, r.record("customers")).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		t.Fatal(err)
	}
}

// pipelineYAML joins the stream of input (a component) with the customers
// table, given the join's other fields, keeping state in stateDir.
func pipelineYAML(brokers []string, stateDir, input, join string) string {
	return fmt.Sprintf(`input: %s
output: { collect: {} }
on_error: dead_letter
dead_letter: { collect: {} }
state: { dir: %q }
pipeline:
  processors:
    - join:
        table: { kafka: { brokers: [%q], topics: [customers], codec: json } }
%s`, input, stateDir, strings.Join(brokers, ","), indent(join, "        "))
}

func indent(s, by string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		b.WriteString(by + line + "\n")
	}
	return b.String()
}

// harness is proctest's harness with the kafka input (the table's)
// registered.
func harness(batches ...[]*engine.Record) *proctest.Harness {
	h := proctest.New(batches...)
	h.Extra = append(h.Extra, func(r *engine.Registry) { r.AddInput(kafka.Plugin()) })
	return h
}

// run builds and runs a config to the end of its input, with a metrics
// registry of its own, which it returns.
func run(t *testing.T, h *proctest.Harness, yamlText string) *prometheus.Registry {
	t.Helper()
	p, reg := build(t, h, yamlText)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatalf("run: %v", err)
	}
	return reg
}

func build(t *testing.T, h *proctest.Harness, yamlText string) (*engine.Pipeline, *prometheus.Registry) {
	t.Helper()
	doc, err := config.Load(proctest.File, []byte(yamlText), config.LoadOptions{LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	p, err := engine.Build(doc, h.Registry(), engine.BuildOptions{Metrics: engine.NewMetrics(reg), Logger: h.Logger})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return p, reg
}

// counter is the value of a counter of the join's.
func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			sum := 0.0
			for _, m := range f.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
			return sum
		}
	}
	return 0
}

// orders makes stream records of JSON values, keyed by keys[i] when given
// ("" for no key).
func orders(values []string, keys ...string) []*engine.Record {
	recs := proctest.JSON(values...)
	for i, k := range keys {
		if k != "" {
			recs[i].SetKeyFromInput([]byte(k))
		}
	}
	return recs
}

func TestInnerAndLeftJoin(t *testing.T) {
	brokers := newCluster(t)
	put(t, brokers,
		row{"c1", `{"name":"Ada"}`}, row{"c2", `{"name":"Grace"}`}, row{"c3", `{"name":"Linus"}`},
		row{"c3", ""}, // deleted
		row{"c2", `{"name":"Grace H."}`},
		row{"", `{"name":"no key: ignored"}`})
	stream := []string{
		`{"id":1,"customer":"c1"}`, `{"id":2,"customer":"c2"}`, `{"id":3,"customer":"c3"}`, `{"id":4,"customer":"c9"}`,
	}
	for _, tc := range []struct {
		join      string
		want      []string
		unmatched float64
	}{
		{"key: value.customer", []string{
			`{"customer":"c1","id":1,"table":{"name":"Ada"}}`,
			`{"customer":"c2","id":2,"table":{"name":"Grace H."}}`,
		}, 2},
		{"key: value.customer\ntype: left\ntable_field: who", []string{
			`{"customer":"c1","id":1,"who":{"name":"Ada"}}`,
			`{"customer":"c2","id":2,"who":{"name":"Grace H."}}`,
			`{"customer":"c3","id":3,"who":null}`,
			`{"customer":"c9","id":4,"who":null}`,
		}, 0},
		{"key: value.customer\ntype: left\nvalue: '{\"order\": value.id, \"name\": table?.name}'", []string{
			`{"name":"Ada","order":1}`, `{"name":"Grace H.","order":2}`, `{"name":null,"order":3}`, `{"name":null,"order":4}`,
		}, 0},
	} {
		t.Run(strings.ReplaceAll(tc.join, "\n", ";"), func(t *testing.T) {
			recs := orders(stream, "k1", "k2", "k3", "k4")
			for i, r := range recs {
				r.Timestamp = int64(1000 + i)
			}
			h := harness(recs)
			reg := run(t, h, pipelineYAML(brokers, t.TempDir(), "{ fixed: {} }", tc.join))
			proctest.Equal(t, "joined", h.Values("collect"), tc.want)
			for _, o := range h.Out("collect") {
				// The stream record's key and timestamp stay: k<id> at 999 + id.
				var v struct{ ID, Order int }
				_ = json.Unmarshal([]byte(o.Value), &v)
				id := max(v.ID, v.Order)
				if o.Key != fmt.Sprintf("k%d", id) || o.Timestamp != int64(999+id) {
					t.Errorf("result %s: key %q, timestamp %d", o.Value, o.Key, o.Timestamp)
				}
			}
			if got := counter(t, reg, "pipeline_join_unmatched_records_total"); got != tc.unmatched {
				t.Errorf("unmatched records counted: %v, want %v", got, tc.unmatched)
			}
			if f := h.Failures(t, "pipeline.processors.0"); len(f) > 0 {
				t.Errorf("failures: %v", f)
			}
		})
	}
}

// TestKeys: the default key is the record's key; a key expression's number
// is its decimal text; a nil key finds no row (an inner join drops the
// record, a left join joins it with nil); a tombstone is dropped.
func TestKeys(t *testing.T) {
	brokers := newCluster(t)
	put(t, brokers, row{"c1", `{"name":"Ada"}`}, row{"7", `{"name":"Seven"}`})
	t.Run("record key", func(t *testing.T) {
		h := harness(append(orders([]string{`{"id":1}`, `{"id":2}`, `{"id":3}`}, "c1", "", "c2"), proctest.Tombstones("c1")...))
		reg := run(t, h, pipelineYAML(brokers, t.TempDir(), "{ fixed: {} }", "type: left"))
		proctest.Equal(t, "joined", h.Values("collect"), []string{
			`{"id":1,"table":{"name":"Ada"}}`, `{"id":2,"table":null}`, `{"id":3,"table":null}`,
		})
		if got := counter(t, reg, "pipeline_join_tombstones_total"); got != 1 {
			t.Errorf("tombstones counted: %v, want 1", got)
		}
	})
	t.Run("number key, nil key, inner", func(t *testing.T) {
		h := harness(orders([]string{`{"id":1,"c":7}`, `{"id":2}`, `{"id":3,"c":"c1"}`, `{"id":4,"c":7.0}`}))
		reg := run(t, h, pipelineYAML(brokers, t.TempDir(), "{ fixed: {} }", "key: value.c"))
		proctest.Equal(t, "joined", h.Values("collect"), []string{
			`{"c":7,"id":1,"table":{"name":"Seven"}}`, `{"c":"c1","id":3,"table":{"name":"Ada"}}`, `{"c":7,"id":4,"table":{"name":"Seven"}}`,
		})
		if got := counter(t, reg, "pipeline_join_unmatched_records_total"); got != 1 {
			t.Errorf("unmatched records counted: %v, want 1 (the nil key)", got)
		}
	})
	t.Run("nil key, left", func(t *testing.T) {
		h := harness(orders([]string{`{"id":2}`}))
		run(t, h, pipelineYAML(brokers, t.TempDir(), "{ fixed: {} }", "key: value.c\ntype: left"))
		proctest.Equal(t, "joined", h.Values("collect"), []string{`{"id":2,"table":null}`})
	})
}

// TestTableIsLoadedBeforeTheFirstRecord: every row written before the
// pipeline started, in two partitions, the last ones in a committed
// transaction (whose marker is the last offset), is there for the first
// stream record, which the fixed input hands over at once; an aborted
// transaction's row never is.
func TestTableIsLoadedBeforeTheFirstRecord(t *testing.T) {
	brokers := newCluster(t)
	const n = 3000
	var rows []row
	var stream []string
	for i := range n {
		rows = append(rows, row{fmt.Sprintf("c%d", i), fmt.Sprintf(`{"n":%d}`, i)})
		stream = append(stream, fmt.Sprintf(`{"c":"c%d"}`, i))
	}
	put(t, brokers, rows[:n-10]...)
	putInTransaction(t, brokers, true, rows[n-10:]...)
	putInTransaction(t, brokers, false, row{"ghost", `{"n":-1}`})
	stream = append(stream, `{"c":"ghost"}`)
	var batches [][]*engine.Record
	for chunk := range slices.Chunk(stream, 500) {
		batches = append(batches, orders(chunk))
	}
	h := harness(batches...)
	logs := &logBuffer{}
	h.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	reg := run(t, h, pipelineYAML(brokers, t.TempDir(), "{ fixed: {} }", "key: value.c\nvalue: 'table.n'"))
	// Start loaded all of it, before any stream record: no race with the
	// follower decided this.
	if want := fmt.Sprintf(`"msg":"the join's table is loaded","component":"pipeline.processors.0","label":"join","records":%d`, n); !strings.Contains(logs.String(), want) {
		t.Errorf("the log does not say %s:\n%s", want, logs.String())
	}
	got := h.Values("collect")
	if len(got) != n {
		t.Fatalf("%d records joined, want %d", len(got), n)
	}
	for i, v := range got {
		if v != fmt.Sprint(i) {
			t.Fatalf("record %d joined %s, want %d", i, v, i)
		}
	}
	if got := counter(t, reg, "pipeline_join_unmatched_records_total"); got != 1 {
		t.Errorf("unmatched records counted: %v, want 1 (the aborted row)", got)
	}
}

// TestTableFollowsItsTopic: changes written to the table while the
// pipeline runs (an update, a new row, a delete) are seen by the stream
// records that come after them.
func TestTableFollowsItsTopic(t *testing.T) {
	brokers := newCluster(t)
	put(t, brokers, row{"c1", `{"name":"Ada"}`})
	h := harness()
	stream := make(chan []*engine.Record)
	h.Extra = append(h.Extra, func(r *engine.Registry) { r.AddInput(streamPlugin(stream)) })
	p, _ := build(t, h, pipelineYAML(brokers, t.TempDir(), "{ stream: {} }", "key: value.c\ntype: left\nvalue: 'value.id + \":\" + (table?.name ?? \"-\")'"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	id := 0
	// send sends one stream record for customer c and waits for its result.
	send := func(c string) string {
		t.Helper()
		id++
		want := len(h.Values("collect")) + 1
		select {
		case stream <- orders([]string{fmt.Sprintf(`{"id":"%d","c":%q}`, id, c)}):
		case err := <-done:
			t.Fatalf("the pipeline stopped: %v", err)
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			if got := h.Values("collect"); len(got) >= want {
				_, name, _ := strings.Cut(got[len(got)-1], ":")
				return name
			}
			if time.Now().After(deadline) {
				t.Fatalf("no result for record %d", id)
			}
		}
	}
	// eventually sends records for c until one sees want.
	eventually := func(c, want string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if got := send(c); got == want {
				return
			} else if time.Now().After(deadline) {
				t.Fatalf("customer %s is still %q, want %q", c, got, want)
			}
		}
	}
	if got := send("c1"); got != "Ada" {
		t.Fatalf("c1 is %q before any change, want Ada", got)
	}
	put(t, brokers, row{"c1", `{"name":"Ada L."}`}, row{"c2", `{"name":"Grace"}`})
	eventually("c1", "Ada L.")
	eventually("c2", "Grace")
	put(t, brokers, row{"c1", ""})
	eventually("c1", "-")
	if got := send("c2"); got != "Grace" {
		t.Errorf("c2 is %q after c1 was deleted, want Grace", got)
	}
	close(stream)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestRestartReloadsTheTable: a restart with the state directory of an
// earlier run keeps no row the topic no longer has: neither one deleted
// by a tombstone meanwhile nor one whose topic was deleted and written
// again without it (as compaction may remove a tombstone).
func TestRestartReloadsTheTable(t *testing.T) {
	brokers := newCluster(t)
	state := filepath.Join(t.TempDir(), "state")
	put(t, brokers, row{"a", `{"v":1}`}, row{"b", `{"v":1}`}, row{"c", `{"v":1}`})
	stream := []string{`{"c":"a"}`, `{"c":"b"}`, `{"c":"c"}`}
	runOnce := func() []string {
		t.Helper()
		h := harness(orders(stream))
		run(t, h, pipelineYAML(brokers, state, "{ fixed: {} }", "key: value.c\ntype: left\nvalue: 'value.c + \"=\" + string(table?.v ?? \"none\")'"))
		return h.Values("collect")
	}
	proctest.Equal(t, "first run", runOnce(), []string{"a=1", "b=1", "c=1"})

	put(t, brokers, row{"b", ""}, row{"a", `{"v":2}`})
	proctest.Equal(t, "after b's tombstone", runOnce(), []string{"a=2", "b=none", "c=1"})

	adm := kadm.NewClient(newClient(t, brokers))
	ctx := context.Background()
	if _, err := adm.DeleteTopic(ctx, "customers"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := adm.CreateTopic(ctx, 2, 1, nil, "customers"); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
	put(t, brokers, row{"a", `{"v":3}`})
	proctest.Equal(t, "after the topic lost b and c", runOnce(), []string{"a=3", "b=none", "c=none"})
}

// TestFailuresGoToTheDeadLetter: a key or value expression that fails, a
// value the default result cannot hold the row, and a row that is not
// JSON fail their record, naming what failed; the others are joined.
func TestFailuresGoToTheDeadLetter(t *testing.T) {
	brokers := newCluster(t)
	put(t, brokers, row{"c1", `{"price":"n/a"}`}, row{"c2", `{"price":2}`}, row{"bad", `{"price":`})
	h := harness(orders([]string{`{"c":1,"qty":1}`, `{"c":"c1","qty":3}`, `{"c":"c2","qty":3}`, `{"c":"bad","qty":1}`}))
	run(t, h, pipelineYAML(brokers, t.TempDir(), "{ fixed: {} }", "key: 'value.c + \"\"'\nvalue: 'value.qty * table.price'"))
	proctest.Equal(t, "joined", h.Values("collect"), []string{"6"})
	failures := h.Failures(t, "pipeline.processors.0")
	if len(failures) != 3 {
		t.Fatalf("failures: %v", failures)
	}
	for i, want := range []string{"key: ", "value: ", `table row "bad": value is not valid JSON`} {
		if f := failures[i]; !strings.HasPrefix(f.Error, want) {
			t.Errorf("failure %d (%s): %q, want it to start with %q", i, f.Value, f.Error, want)
		}
	}

	h = harness(proctest.Text("plain text"))
	for _, r := range h.Batches[0] {
		r.SetKeyFromInput([]byte("c2"))
	}
	run(t, h, pipelineYAML(brokers, t.TempDir(), "{ fixed: {} }", "table_field: customer"))
	failures = h.Failures(t, "pipeline.processors.0")
	if len(failures) != 1 || !strings.Contains(failures[0].Error, `table_field "customer"`) {
		t.Errorf("failures: %v", failures)
	}
}

// TestConfigErrors: the table is built as any input, its errors positioned
// in it; a table cannot be read by regular expression; table_field goes
// without value.
func TestConfigErrors(t *testing.T) {
	h := harness()
	for _, tc := range []struct{ join, want string }{
		{"table: { kafka: { brokers: [b], topics: [t], codecc: json } }",
			`pipeline.processors.0.join.table.kafka.codecc: unknown field "codecc"`},
		{"table: { kafka: { brokers: [b], topics: ['t.*'], topics_regex: true } }",
			"pipeline.processors.0.join.table: a table reads the topics it names"},
		{"table: { kafka: { brokers: [b], topics: [t] } }\nvalue: table\ntable_field: x",
			"pipeline.processors.0.join.table_field: table_field names where the row goes"},
		{"table: { nope: {} }", `pipeline.processors.0.join.table.nope: unknown input "nope"`},
	} {
		_, err := h.Build(fmt.Sprintf(`input: { fixed: {} }
output: { collect: {} }
state: { dir: %q }
pipeline:
  processors:
    - label: enrich
      join:
%s`, t.TempDir(), indent(tc.join, "        ")))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.join, err, tc.want)
		}
	}
}

// logBuffer collects log lines from any goroutine.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// streamInput reads the batches a test sends on a channel, as partition
// "s"; the channel's close ends it.
type streamInput struct {
	ch   <-chan []*engine.Record
	src  *engine.Source
	next int64
}

func streamPlugin(ch <-chan []*engine.Record) engine.InputPlugin {
	return engine.InputPlugin{
		Spec: config.Spec{Name: "stream", Summary: "Reads what the test sends."},
		New: func(_ *config.Parsed, res *engine.Resources) (engine.Input, error) {
			return &streamInput{ch: ch, src: &engine.Source{Input: res.Label, Partition: "s"}}, nil
		},
	}
}

func (in *streamInput) Read(ctx context.Context) (engine.InputBatch, error) {
	select {
	case <-ctx.Done():
		return engine.InputBatch{}, ctx.Err()
	case recs, ok := <-in.ch:
		if !ok {
			return engine.InputBatch{}, io.EOF
		}
		for _, r := range recs {
			r.Source, r.Offset = in.src, in.next
			in.next++
		}
		return engine.InputBatch{Records: recs, Partition: "s", Position: engine.IntPosition("offset", in.next)}, nil
	}
}

func (in *streamInput) Close(context.Context) error { return nil }
