package aggregate_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/processors/internal/proctest"
)

// events makes one JSON record per "key@time" with value {"k":key,"t":time,"n":i}.
func events(spec ...string) []*engine.Record {
	var vals []string
	for i, s := range spec {
		k, t, _ := strings.Cut(s, "@")
		vals = append(vals, fmt.Sprintf(`{"k":%q,"t":%s,"n":%d}`, k, t, i+1))
	}
	return proctest.JSON(vals...)
}

func run(t *testing.T, aggregate string, batches ...[]*engine.Record) (results, deadLetters []string) {
	t.Helper()
	h := proctest.New(batches...)
	cfg := proctest.Pipeline(aggregate) + fmt.Sprintf("state: {dir: %q}\n", t.TempDir())
	h.MustRun(t, cfg)
	return h.Values("collect"), h.Values("dead_letter")
}

func TestWindowSemantics(t *testing.T) {
	tests := []struct {
		name    string
		agg     string
		batches [][]*engine.Record
		want    []string
	}{
		{
			name: "tumbling 5000 puts 5000 only in [5000,10000)",
			agg: `- aggregate: {key: value.k, ops: {c: count()}, timestamp: value.t, emit: at_end,
    window: {type: tumbling, size: 5s}}`,
			batches: [][]*engine.Record{events("a@5000")},
			want:    []string{`{"key":"a","window_start":5000,"window_end":10000,"c":1}`},
		},
		{
			name: "hopping 6s advance 3s puts 4000 in exactly two windows",
			agg: `- aggregate: {key: value.k, ops: {c: count()}, timestamp: value.t, emit: at_end,
    window: {type: hopping, size: 6s, advance: 3s}}`,
			batches: [][]*engine.Record{events("a@4000")},
			want: []string{
				`{"key":"a","window_start":0,"window_end":6000,"c":1}`,
				`{"key":"a","window_start":3000,"window_end":9000,"c":1}`,
			},
		},
		{
			name: "negative times are epoch-aligned too",
			agg: `- aggregate: {key: value.k, ops: {c: count()}, timestamp: value.t, emit: at_end,
    window: {type: tumbling, size: 5s}}`,
			batches: [][]*engine.Record{events("a@-1")},
			want:    []string{`{"key":"a","window_start":-5000,"window_end":0,"c":1}`},
		},
		{
			// As Kafka Streams: at stream time 20, [10,12] has closed
			// (12 + gap 5 + grace 0 ≤ 20), so 16 joins only [20,20].
			name: "sessions with gap 5 fed 10, 12, 20 then 16: [10,12] has closed, 16 extends [20,20]",
			agg: `- aggregate: {key: value.k, ops: {c: count(), ns: collect(value.n)}, timestamp: value.t, emit: at_end,
    window: {type: session, gap: 5ms}}`,
			batches: [][]*engine.Record{events("a@10", "a@12", "a@20"), events("a@16")},
			want: []string{
				`{"key":"a","window_start":10,"window_end":12,"c":2,"ns":[1,2]}`,
				`{"key":"a","window_start":16,"window_end":20,"c":2,"ns":[3,1]}`,
			},
		},
		{
			name: "sessions with gap 5 grace 4 fed 10, 12, 20 then 16 merge into one [10,20] of 4",
			agg: `- aggregate: {key: value.k, ops: {c: count(), ns: collect(value.n)}, timestamp: value.t, emit: at_end,
    window: {type: session, gap: 5ms, grace: 4ms}}`,
			batches: [][]*engine.Record{events("a@10", "a@12", "a@20"), events("a@16")},
			want:    []string{`{"key":"a","window_start":10,"window_end":20,"c":4,"ns":[1,2,3,1]}`},
		},
		{
			name: "sessions of different keys stay apart; a gap splits a key's sessions",
			agg: `- aggregate: {key: value.k, ops: {c: count()}, timestamp: value.t, emit: at_end,
    window: {type: session, gap: 5ms}}`,
			batches: [][]*engine.Record{events("a@10", "b@11", "a@30")},
			want: []string{
				`{"key":"a","window_start":10,"window_end":10,"c":1}`,
				`{"key":"b","window_start":11,"window_end":11,"c":1}`,
				`{"key":"a","window_start":30,"window_end":30,"c":1}`,
			},
		},
		{
			name: "on_close emits once per key and window, when stream time passes end + grace",
			agg: `- aggregate: {key: value.k, ops: {c: count()}, timestamp: value.t, emit: on_close,
    window: {type: tumbling, size: 10ms, grace: 5ms}}`,
			batches: [][]*engine.Record{
				events("a@1", "b@2", "a@9"),
				events("a@15"), // stream time 15 = end + grace of [0,10): still open
				events("a@16"), // 16 passes it: [0,10) closes for both keys
				events("a@29", "a@40"),
			},
			want: []string{
				`{"key":"a","window_start":0,"window_end":10,"c":2}`,
				`{"key":"b","window_start":0,"window_end":10,"c":1}`,
				`{"key":"a","window_start":10,"window_end":20,"c":2}`,
				`{"key":"a","window_start":20,"window_end":30,"c":1}`,
			},
		},
		{
			name: "on_update emits every change",
			agg: `- aggregate: {key: value.k, ops: {c: count(), s: sum(value.t)}, timestamp: value.t,
    window: {type: tumbling, size: 10ms}}`,
			batches: [][]*engine.Record{events("a@1", "a@2", "b@3")},
			want: []string{
				`{"key":"a","window_start":0,"window_end":10,"c":1,"s":1}`,
				`{"key":"a","window_start":0,"window_end":10,"c":2,"s":3}`,
				`{"key":"b","window_start":0,"window_end":10,"c":1,"s":3}`,
			},
		},
		{
			name: "sliding windows of 10ms: left windows end at each record, right windows start after it",
			agg: `- aggregate: {key: value.k, ops: {c: count()}, timestamp: value.t, emit: at_end,
    window: {type: sliding, size: 10ms}}`,
			batches: [][]*engine.Record{events("a@100", "a@105", "a@120")},
			want: []string{
				`{"key":"a","window_start":90,"window_end":100,"c":1}`,
				`{"key":"a","window_start":95,"window_end":105,"c":2}`,
				`{"key":"a","window_start":101,"window_end":111,"c":1}`,
				`{"key":"a","window_start":110,"window_end":120,"c":1}`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, dead := run(t, tt.agg, tt.batches...)
			if len(dead) > 0 {
				t.Fatalf("dead letters: %v", dead)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestLateRecordAfterCloseIsDroppedAndCountedOrDeadLettered(t *testing.T) {
	agg := `- aggregate: {key: value.k, ops: {c: count()}, timestamp: value.t, emit: on_close, late: dead_letter,
    window: {type: tumbling, size: 10ms, grace: 5ms}}`
	got, dead := run(t, agg,
		events("a@1", "a@14"), // stream time 14: [0,10) open while it is below 10 + 5
		events("a@3"),         // accepted
		events("a@15"),        // reaches end + grace: [0,10) closes with 2 records (Kafka Streams' boundary)
		events("a@4"),         // after the close: late
		events("a@100"))
	want := []string{
		`{"key":"a","window_start":0,"window_end":10,"c":2}`,
		`{"key":"a","window_start":10,"window_end":20,"c":2}`,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(dead) != 1 || dead[0] != `{"k":"a","t":4,"n":1}` {
		t.Fatalf("dead letters %v, want only the late record", dead)
	}
}

func TestRunningTableOperations(t *testing.T) {
	got, dead := run(t, `- aggregate:
    key: value.k
    key_field: word
    emit: at_end
    ops:
      count: count()
      sum: sum(value.n)
      min: min(value.n)
      max: max(value.n)
      avg: avg(value.n)
      first: first(value.n)
      last: last(value.n)
      all: collect(value.t)
      product: reduce(1, acc * value.n)
    timestamp: value.t`, events("a@30", "b@1", "a@10", "a@20"))
	want := []string{
		`{"word":"a","count":3,"sum":8,"min":1,"max":4,"avg":2.6666666666666665,"first":3,"last":1,"all":[30,10,20],"product":12}`,
		`{"word":"b","count":1,"sum":2,"min":2,"max":2,"avg":2,"first":2,"last":2,"all":[1],"product":2}`,
	}
	if len(dead) > 0 || !slices.Equal(got, want) {
		t.Fatalf("got:\n%s\nwant:\n%s\ndead: %v", strings.Join(got, "\n"), strings.Join(want, "\n"), dead)
	}
}

func TestFailingRecordsGoToDeadLetter(t *testing.T) {
	got, dead := run(t, `- aggregate: {key: value.k, ops: {s: sum(value.t)}, emit: at_end}`,
		proctest.JSON(`{"k":"a","t":1}`, `{"k":"a","t":"x"}`, `{"k":"a","t":2}`))
	if !slices.Equal(got, []string{`{"key":"a","s":3}`}) {
		t.Fatalf("got %v", got)
	}
	if len(dead) != 1 || dead[0] != `{"k":"a","t":"x"}` {
		t.Fatalf("dead letters %v", dead)
	}
}

func TestConfigErrors(t *testing.T) {
	h := proctest.New()
	for _, tt := range []struct{ agg, want string }{
		{`- aggregate: {key: value, ops: {c: cnt()}}`, `unknown operation "cnt", did you mean "count"?`},
		{`- aggregate: {key: value, ops: {c: sum()}}`, `sum takes 1 argument(s), got 0`},
		{`- aggregate: {key: value, ops: {c: count()}, emit: on_close}`, `emit: on_close needs a window`},
		{`- aggregate: {key: value, ops: {c: count()}, window: {type: hopping, size: 1s, advance: 2s}}`, `advance of at least 1ms and at most the size`},
		{`- aggregate: {key: value, ops: {c: 'reduce(0, acc + 1)'}, window: {type: session, gap: 1s}}`, `reduce() cannot be used with session windows`},
		{`- aggregate: {key: value, ops: {c: 'sum(value +)'}}`, `t.yaml:7:51: pipeline.processors.0.aggregate.ops.c: expression: unexpected token EOF`},
	} {
		_, err := h.Build(proctest.Pipeline(tt.agg))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %q", tt.agg, err, tt.want)
		}
	}
}

// More results than one flush chunk holds come out whole, in window order.
func TestAtEndFlushesInChunks(t *testing.T) {
	for _, window := range []string{"", "window: {type: tumbling, size: 1h}, "} {
		var specs []string
		for i := 0; i < 2500; i++ {
			specs = append(specs, fmt.Sprintf("k%04d@%d", i, i), fmt.Sprintf("k%04d@%d", i, i+1))
		}
		got, dead := run(t, `- aggregate: {key: value.k, ops: {c: count()}, timestamp: value.t, `+window+`emit: at_end}`, events(specs...))
		if len(dead) > 0 || len(got) != 2500 {
			t.Fatalf("%s: %d results, %d dead letters; want 2500 results", window, len(got), len(dead))
		}
		for i, r := range got {
			if !strings.Contains(r, fmt.Sprintf(`"key":"k%04d"`, i)) || !strings.HasSuffix(r, `"c":2}`) {
				t.Fatalf("%s: result %d is %s", window, i, r)
			}
		}
	}
}

// TestTombstonesAreIgnored: a record without a value neither counts nor
// moves stream time (a tombstone at a far time would otherwise close every
// window), as in Kafka Streams' grouped aggregations.
func TestTombstonesAreIgnored(t *testing.T) {
	batch := append(events("a@1000", "a@2000"), proctest.Tombstones("a", "b")...)
	batch = append(batch, events("a@3000")...)
	results, dead := run(t, `- aggregate: {key: key, ops: {c: count()}, timestamp: 'value == nil ? 999999999 : value.t', emit: on_update,
    window: {type: tumbling, size: 10s}}`, batch)
	want := []string{
		`{"key":"","window_start":0,"window_end":10000,"c":1}`,
		`{"key":"","window_start":0,"window_end":10000,"c":2}`,
		`{"key":"","window_start":0,"window_end":10000,"c":3}`,
	}
	if !slices.Equal(results, want) || len(dead) != 0 {
		t.Fatalf("results %q, dead letters %q\nwant %q", results, dead, want)
	}
}

// TestResultsCarryTheirDecodedValue: a result holds its bytes and the value
// they decode to, so that an expression after the aggregate does not decode
// them again; that value must be exactly what decoding the bytes gives
// (an integral float sum decodes as an integer, a big one as a literal).
func TestResultsCarryTheirDecodedValue(t *testing.T) {
	vals := []string{
		`{"k":"a","t":1000,"x":1.5,"s":"é<&>"}`,
		`{"k":"a","t":2000,"x":1.5,"s":"b"}`,
		`{"k":"b","t":2500,"x":9007199254740993,"s":null}`,
		`{"k":{"n":[1,2]},"t":3000,"x":0.1,"s":"c"}`,
		`{"k":7,"t":3500,"x":-3,"s":"d"}`,
		`{"k":"q\"u\u00e9\n","t":4000,"x":2,"s":"e"}`,
		`{"k":"straße","t":4500,"x":2,"s":"f"}`,
	}
	aggregates := []string{
		`- aggregate: {key: value.k, ops: {c: count(), sum: sum(value.x), avg: avg(value.x), min: min(value.x),
    max: max(value.s), first: first(value.s), l: collect(value.x)}, emit: on_update}`,
		`- aggregate: {key: value.k, key_field: c, ops: {c: count(), window_end: sum(value.x)}, timestamp: value.t, emit: at_end,
    window: {type: tumbling, size: 2s}}`,
	}
	for _, agg := range aggregates {
		h := proctest.New(proctest.JSON(vals...))
		h.MustRun(t, proctest.Pipeline(agg)+fmt.Sprintf("state: {dir: %q}\n", t.TempDir()))
		values, decoded := h.Values("collect"), h.Decoded("collect")
		if len(values) == 0 || len(values) != len(decoded) {
			t.Fatalf("%s: %d results, %d values seen", agg, len(values), len(decoded))
		}
		for i, v := range values {
			want, err := engine.DecodeJSON([]byte(v))
			if err != nil {
				t.Fatalf("result %s: %v", v, err)
			}
			if !reflect.DeepEqual(decoded[i], want) {
				t.Errorf("result %s: the value carried is %#v, decoding its bytes gives %#v", v, decoded[i], want)
			}
		}
	}
}

// TestKafkaStreamsWindowRules: the cases where the windows disagreed with
// Kafka Streams 4.1 (issue 12), each as a few events key@ms; the result is
// Kafka Streams' (checked against it by e2e's differential test). Each case
// runs with all events in one batch and with a batch per event: where the
// batches end must not matter.
func TestKafkaStreamsWindowRules(t *testing.T) {
	tests := []struct {
		name, window, emit string
		events             []string
		want, late         []string
	}{{
		name:   "a tumbling window closes when stream time reaches end + grace",
		window: `{type: tumbling, size: 10s, grace: 2s}`, emit: "on_close",
		events: []string{"A@100500", "B@112000", "A@109000", "Z@999000"},
		want: []string{`{"key":"A","window_start":100000,"window_end":110000,"c":1}`,
			`{"key":"B","window_start":110000,"window_end":120000,"c":1}`},
		late: []string{`{"k":"A","t":109000,"n":3}`},
	}, {
		name:   "a hopping window closes when stream time reaches end + grace",
		window: `{type: hopping, size: 10s, advance: 5s, grace: 1s}`, emit: "on_close",
		events: []string{"A@104000", "B@111000", "A@109999", "Z@999000"},
		want: []string{`{"key":"A","window_start":95000,"window_end":105000,"c":1}`,
			`{"key":"A","window_start":100000,"window_end":110000,"c":1}`,
			`{"key":"B","window_start":105000,"window_end":115000,"c":1}`,
			`{"key":"B","window_start":110000,"window_end":120000,"c":1}`,
			`{"key":"A","window_start":105000,"window_end":115000,"c":1}`},
	}, {
		name:   "a session record is late by the end of the session it joins, not by its own time",
		window: `{type: session, gap: 5s, grace: 2s}`, emit: "on_close",
		events: []string{"A@100000", "A@104000", "B@110000", "A@101000", "Z@999000"},
		want: []string{`{"key":"A","window_start":100000,"window_end":104000,"c":3}`,
			`{"key":"B","window_start":110000,"window_end":110000,"c":1}`},
	}, {
		name:   "a session closes once end + gap + grace is reached: a record after it starts another",
		window: `{type: session, gap: 5s, grace: 2s}`, emit: "on_close",
		events: []string{"A@100000", "B@107000", "A@104000", "Z@999000"},
		want: []string{`{"key":"A","window_start":100000,"window_end":100000,"c":1}`,
			`{"key":"B","window_start":107000,"window_end":107000,"c":1}`,
			`{"key":"A","window_start":104000,"window_end":104000,"c":1}`},
	}, {
		// At stream time 105000 [100000,100000] has just closed, and a
		// record at 100000 is just not late: it makes a new session with
		// the same bounds, a second final result, as in Kafka Streams.
		name:   "a record on the bounds of a session that just closed makes another",
		window: `{type: session, gap: 5s}`, emit: "on_close",
		events: []string{"A@100000", "B@105000", "A@100000", "Z@999000"},
		want: []string{`{"key":"A","window_start":100000,"window_end":100000,"c":1}`,
			`{"key":"A","window_start":100000,"window_end":100000,"c":1}`,
			`{"key":"B","window_start":105000,"window_end":105000,"c":1}`},
	}, {
		name:   "a session merged away is retracted under on_update",
		window: `{type: session, gap: 5s}`, emit: "on_update",
		events: []string{"A@100000", "A@103000", "A@103000"},
		want: []string{`{"key":"A","window_start":100000,"window_end":100000,"c":1}`,
			`{"retracted":{"c":1,"key":"A","window_end":100000,"window_start":100000}}`,
			`{"key":"A","window_start":100000,"window_end":103000,"c":2}`,
			`{"retracted":{"c":2,"key":"A","window_end":103000,"window_start":100000}}`,
			`{"key":"A","window_start":100000,"window_end":103000,"c":3}`},
	}, {
		name:   "a sliding record whose every window has closed is late, not lost",
		window: `{type: sliding, size: 10s, grace: 2s}`, emit: "on_close",
		events: []string{"B@110000", "A@104000", "Z@999000"},
		want:   []string{`{"key":"B","window_start":100000,"window_end":110000,"c":1}`},
		late:   []string{`{"k":"A","t":104000,"n":2}`},
	}}
	for _, tt := range tests {
		agg := fmt.Sprintf(`- aggregate: {key: value.k, ops: {c: count()}, timestamp: value.t, emit: %s, late: dead_letter,
    window: %s}
- filter: 'value == nil || value.key != "Z"'
- map: {value: 'value == nil ? {"retracted": before} : value'}`, tt.emit, tt.window)
		for _, batching := range []string{"one batch", "a batch per event"} {
			t.Run(tt.name+"/"+batching, func(t *testing.T) {
				batches := [][]*engine.Record{events(tt.events...)}
				if batching != "one batch" {
					batches = nil
					for _, r := range events(tt.events...) {
						batches = append(batches, []*engine.Record{r})
					}
				}
				got, late := run(t, agg, batches...)
				got, want := canonicalJSON(t, got, tt.emit != "on_update"), canonicalJSON(t, tt.want, tt.emit != "on_update")
				if !slices.Equal(got, want) || !slices.Equal(late, tt.late) {
					t.Fatalf("got:\n%s\nlate: %v\nwant:\n%s\nlate: %v", strings.Join(got, "\n"), late, strings.Join(tt.want, "\n"), tt.late)
				}
			})
		}
	}
}

// canonicalJSON re-encodes each JSON value with its keys sorted, and sorts
// the list when its order does not matter (final results).
func canonicalJSON(t *testing.T, values []string, sorted bool) []string {
	t.Helper()
	out := make([]string, len(values))
	for i, v := range values {
		var x any
		if err := json.Unmarshal([]byte(v), &x); err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		b, _ := json.Marshal(x)
		out[i] = string(b)
	}
	if sorted {
		slices.Sort(out)
	}
	return out
}
