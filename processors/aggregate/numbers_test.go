package aggregate_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pipelinehq/pipeline/processors/internal/proctest"
)

// windowKinds are the shapes of state an aggregate keeps: a running table,
// fixed windows, sessions (merged) and sliding windows (whose records are
// buffered in state as JSON).
var windowKinds = map[string]string{
	"table":    ``,
	"tumbling": `, window: {type: tumbling, size: 10s}`,
	"session":  `, window: {type: session, gap: 10s}`,
	"sliding":  `, window: {type: sliding, size: 10s}`,
}

// TestSumOfIntegersIsExact: integers are summed as integers, so sums and
// values kept in state are exact beyond 2^53 (a float64 sum made
// 9007199254740993 + 1 into 9007199254740992).
func TestSumOfIntegersIsExact(t *testing.T) {
	for kind, window := range windowKinds {
		t.Run(kind, func(t *testing.T) {
			got, dead := run(t, `- aggregate: {key: value.k, timestamp: value.t, emit: at_end`+window+`,
    ops: {s: sum(value.n), lo: min(value.n), hi: max(value.n), all: collect(value.n), mixed: sum(value.f), avg: avg(value.n)}}`,
				proctest.JSON(`{"k":"a","t":1000,"n":9007199254740993,"f":1}`, `{"k":"a","t":2000,"n":1,"f":0.5}`))
			want := `"s":9007199254740994,"lo":1,"hi":9007199254740993,"all":[9007199254740993,1],"mixed":1.5,"avg":4503599627370497}`
			if len(dead) > 0 || !slices.ContainsFunc(got, func(r string) bool { return strings.HasSuffix(r, want) }) {
				t.Fatalf("results %v (dead letters %v), want one (of both records) to end with %s", got, dead, want)
			}
		})
	}
}

// TestSumOverflowFailsTheRecord: a record whose integer would overflow the
// sum goes to the dead letter (or stops the pipeline, per on_error) and
// leaves the sum as it was, as integer overflow does in expressions.
func TestSumOverflowFailsTheRecord(t *testing.T) {
	for kind, window := range windowKinds {
		t.Run(kind, func(t *testing.T) {
			h := proctest.New(proctest.JSON(`{"k":"a","t":1000,"n":9223372036854775806}`, `{"k":"a","t":2000,"n":1}`, `{"k":"a","t":3000,"n":1}`))
			h.MustRun(t, proctest.Pipeline(`- aggregate: {key: value.k, timestamp: value.t, emit: at_end, ops: {s: sum(value.n)}`+window+`}`)+
				fmt.Sprintf("state: {dir: %q}\n", t.TempDir()))
			dead := h.Out("dead_letter")
			if len(dead) != 1 || dead[0].Value != `{"k":"a","t":3000,"n":1}` {
				t.Fatalf("dead letters %v, want the third record", dead)
			}
			if msg, _ := dead[0].Header("error"); msg != "s: integer overflow: 9223372036854775807 + 1" {
				t.Errorf("error %q", msg)
			}
			got := h.Values("collect")
			if !slices.ContainsFunc(got, func(r string) bool { return strings.HasSuffix(r, `"s":9223372036854775807}`) }) ||
				slices.ContainsFunc(got, func(r string) bool { return strings.Contains(r, `"s":-`) }) {
				t.Errorf("results %v, want the sum of the first two and no wrapped one", got)
			}
		})
	}
	h := proctest.New(proctest.JSON(`{"k":"a","n":9223372036854775807}`, `{"k":"a","n":1}`))
	err := h.Run(t, "input: {fixed: {}}\noutput: {collect: {}}\non_error: stop\n"+
		"pipeline: {processors: [{aggregate: {key: value.k, ops: {s: sum(value.n)}}}]}\n"+
		fmt.Sprintf("state: {dir: %q}\n", t.TempDir()))
	if err == nil || !strings.Contains(err.Error(), "s: integer overflow: 9223372036854775807 + 1") {
		t.Fatalf("on_error: stop: %v", err)
	}
}

// TestAggregatesRefuseWhatJSONCannotHold: NaN and ±Inf (1/0 in an
// expression) fail the record instead of making a result null.
func TestAggregatesRefuseWhatJSONCannotHold(t *testing.T) {
	got, dead := run(t, `- aggregate: {key: value.k, emit: at_end, ops: {s: sum(value.n / value.d)}}`,
		proctest.JSON(`{"k":"a","n":1,"d":2}`, `{"k":"a","n":1,"d":0}`, `{"k":"a","n":0,"d":0}`))
	if !slices.Equal(got, []string{`{"key":"a","s":0.5}`}) || len(dead) != 2 {
		t.Fatalf("results %v, dead letters %v", got, dead)
	}
	_, dead = run(t, `- aggregate: {key: value.k, emit: at_end, ops: {s: sum(value.f)}}`,
		proctest.JSON(`{"k":"a","f":1e308}`, `{"k":"a","f":1e308}`))
	if len(dead) != 1 {
		t.Fatalf("a float sum beyond float64: dead letters %v", dead)
	}
}

// TestSessionMergeOverflowFailsTheRecord: a record that bridges two
// sessions whose integer sums overflow together fails, and both sessions
// stay as they were.
func TestSessionMergeOverflowFailsTheRecord(t *testing.T) {
	got, dead := run(t, `- aggregate: {key: value.k, timestamp: value.t, emit: at_end, ops: {s: sum(value.n)}, window: {type: session, gap: 20s, grace: 10s}}`,
		proctest.JSON(`{"k":"a","t":1000,"n":9223372036854775807}`, `{"k":"a","t":30000,"n":1}`, `{"k":"a","t":15000,"n":0}`))
	want := []string{
		`{"key":"a","window_start":1000,"window_end":1000,"s":9223372036854775807}`,
		`{"key":"a","window_start":30000,"window_end":30000,"s":1}`,
	}
	if !slices.Equal(got, want) || !slices.Equal(dead, []string{`{"k":"a","t":15000,"n":0}`}) {
		t.Fatalf("results %v, dead letters %v", got, dead)
	}
}

// TestSumOfNumbersKeptAsWritten: a number beyond int64 and float64 cannot
// be added exactly: its record fails.
func TestSumOfNumbersKeptAsWritten(t *testing.T) {
	got, dead := run(t, `- aggregate: {key: value.k, emit: at_end, ops: {s: sum(value.n)}}`,
		proctest.JSON(`{"k":"a","n":1}`, `{"k":"a","n":9223372036854775808}`))
	if !slices.Equal(got, []string{`{"key":"a","s":1}`}) || !slices.Equal(dead, []string{`{"k":"a","n":9223372036854775808}`}) {
		t.Fatalf("results %v, dead letters %v", got, dead)
	}
}
