package e2e

// TestStreamsJoinDiff: the join processors against the real Kafka Streams
// (issue 12, item 3): the same events go through KStream#join, #leftJoin
// and #outerJoin with JoinWindows, KStream#join/#leftJoin(KTable) and
// KTable#join/#leftJoin/#outerJoin(KTable) in TopologyTestDriver
// (e2e/streams/src/StreamsJoinReference.java) and through the built
// binary's stream_join and table_join, in the same order, and the two
// sequences of results (key, the joined values or a tombstone, timestamp)
// must be identical, order included.
//
// Every set ends with a far-future left record of its own key, which
// closes every window so that Kafka Streams emits every unmatched result
// the pipeline emits; the pipeline then also emits that record itself when
// its input ends (Kafka Streams never does), which is left out.
//
// Cases are hand-written examples (for tables, the one of Kafka Streams'
// join documentation) and seeded random sets: four keys, some records
// without a key or without a value (for tables one in eight a delete),
// timestamps out of order, some behind by more than the window and grace,
// in milliseconds or in whole seconds (records land exactly on window
// bounds).
//
//	make build && cd e2e && go test -count=1 -run StreamsJoinDiff -v .
//
// STRESS=1 uses ten times the events.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sjEvent is a record of one side; a nil key or value is none.
type sjEvent struct {
	Side       string // L or R
	Key, Value *string
	TS         int64
}

type sjCase struct {
	Name                 string
	Kind                 string // stream_stream (stream_join), stream_table or table_table (table_join)
	Type                 string // inner, left, outer
	Before, After, Grace int64  // ms
	Events               []sjEvent
	Seed                 uint64
}

// sjResult is one result: its key (nil: none), "left|right" ("-" for a
// missing side) or sjTombstone, and timestamp.
type sjResult struct {
	Key   *string
	Value string
	TS    int64
}

func (r sjResult) String() string {
	k := "<nil>"
	if r.Key != nil {
		k = *r.Key
	}
	return fmt.Sprintf("%s@%d %s", k, r.TS, r.Value)
}

const sjCloserKey = "~close"

// sjTombstone is the value of a result without one (a table join's delete).
const sjTombstone = "<tombstone>"

func valueOrTombstone(v *string) string {
	if v == nil {
		return sjTombstone
	}
	return *v
}

// describe is a case's join, for a failure message.
func (c *sjCase) describe() string {
	if c.Kind != "stream_stream" {
		return c.Kind + " " + c.Type
	}
	return fmt.Sprintf("%s, window before %dms after %dms grace %dms", c.Type, c.Before, c.After, c.Grace)
}

func TestStreamsJoinDiff(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := buildStreamsReference(ctx); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v (CI=true)", err)
		}
		if errors.Is(err, errStreamsUnavailable) {
			t.Skipf("%v", err)
		}
		t.Fatal(err)
	}
	cases := streamsJoinCases(t)
	ks, err := runStreamsJoinReference(ctx, cases)
	if err != nil {
		t.Fatal(err)
	}
	var summary strings.Builder
	fmt.Fprintf(&summary, "%-34s %6s %8s  %s\n", "case", "events", "results", "status")
	for _, c := range cases {
		got, err := runPipelineJoinCase(ctx, c, t.TempDir())
		status := "agree"
		t.Run(c.Name, func(t *testing.T) {
			if err != nil {
				status = "pipeline failed"
				t.Fatal(err)
			}
			want := ks[c.Name]
			if d := firstDifference(want, got); d != "" {
				status = "DISAGREE"
				t.Errorf("%s, %d events (seed %d): Kafka Streams gave %d results, the pipeline %d; %s",
					c.describe(), len(c.Events), c.Seed, len(want), len(got), d)
			}
		})
		fmt.Fprintf(&summary, "%-34s %6d %8d  %s\n", c.Name, len(c.Events), len(ks[c.Name]), status)
	}
	t.Logf("results of Kafka Streams (the same for the pipeline where the status is agree):\n%s", summary.String())
}

// firstDifference says where two result sequences first differ, with the
// results around it; "" when they are equal.
func firstDifference(want, got []sjResult) string {
	n := min(len(want), len(got))
	i := 0
	for i < n && want[i].String() == got[i].String() {
		i++
	}
	if i == len(want) && i == len(got) {
		return ""
	}
	around := func(rs []sjResult) string {
		var b strings.Builder
		for j := max(0, i-2); j < min(len(rs), i+3); j++ {
			mark := "  "
			if j == i {
				mark = "> "
			}
			fmt.Fprintf(&b, "\n    %s%d: %s", mark, j, rs[j])
		}
		return b.String()
	}
	return fmt.Sprintf("they first differ at result %d:\n  Kafka Streams:%s\n  pipeline:%s", i, around(want), around(got))
}

func strp(s string) *string { return &s }

// streamsJoinCases is the hand-written cases, then seeded ones.
func streamsJoinCases(t *testing.T) []*sjCase {
	fixed := []struct {
		name, typ            string
		before, after, grace int64
		events               string // side key@ts, … (key _ is none)
	}{
		{"fixed_inner_bounds", "inner", 5000, 5000, 0, "L a@1000, R a@3000, R a@7000, L a@6500, R b@6000, R a@12000, L a@17000"},
		{"fixed_asymmetric", "inner", 1000, 5000, 0, "L a@10000, R a@8500, R a@14000, L b@20000, R b@19500, R b@19000"},
		{"fixed_left_grace", "left", 5000, 5000, 1000, "L a@1000, R b@6000, R b@7000, R a@5500, L c@7001, R x@13002"},
		{"fixed_left_late", "left", 5000, 5000, 0, "R x@20000, L a@1000, L _@1000"},
		{"fixed_outer_order", "outer", 1000, 1000, 0, "L a@1000, R a@1000, R b@1500, L c@1500, L z@9000, R _@9000"},
	}
	var cases []*sjCase
	for _, f := range fixed {
		c := &sjCase{Name: f.name, Kind: "stream_stream", Type: f.typ, Before: f.before, After: f.after, Grace: f.grace}
		c.Events = parseJoinEvents(t, f.name, f.events)
		cases = append(cases, withJoinCloser(c))
	}
	// The example of Kafka Streams' join documentation: one key, a change
	// per step, "-" deleting (README, "Stream–table and table–table joins").
	const docExample = "L k@3 A, R k@4 a, L k@5 B, R k@6 b, L k@7 -, R k@8 -, L k@9 C, R k@10 c, " +
		"R k@11 -, L k@12 -, R k@13 -, R k@14 d, L k@15 D"
	for _, kt := range [][2]string{{"stream_table", "inner"}, {"stream_table", "left"},
		{"table_table", "inner"}, {"table_table", "left"}, {"table_table", "outer"}} {
		cases = append(cases, withJoinCloser(&sjCase{Name: "doc_" + kt[0] + "_" + kt[1], Kind: kt[0], Type: kt[1],
			Events: parseJoinEvents(t, "doc", docExample)}))
	}
	n := 1500
	if os.Getenv("STRESS") != "" {
		n *= 10
	}
	for i, g := range []struct {
		typ                  string
		before, after, grace int64
		seconds              bool
	}{
		{"inner", 5000, 5000, 2000, false},
		{"left", 5000, 5000, 2000, false},
		{"outer", 5000, 5000, 2000, false},
		{"inner", 2000, 6000, 0, true},
		{"left", 2000, 6000, 0, true},
		{"outer", 2000, 6000, 1000, true},
		{"left", 0, 3000, 1000, true},
		{"outer", 4000, 0, 0, false},
	} {
		unit := "ms"
		if g.seconds {
			unit = "sec"
		}
		seed := uint64(7001 + i)
		c := &sjCase{Name: fmt.Sprintf("%s_b%d_a%d_g%d_%s", g.typ, g.before/1000, g.after/1000, g.grace/1000, unit),
			Kind: "stream_stream", Type: g.typ, Before: g.before, After: g.after, Grace: g.grace, Seed: seed}
		c.Events = generateJoinEvents(seed, c, n, g.seconds, 40)
		cases = append(cases, withJoinCloser(c))
	}
	// Tables: more deletes (one change in eight), and a window only to
	// spread the timestamps the results carry.
	for i, kt := range [][2]string{{"stream_table", "inner"}, {"stream_table", "left"},
		{"table_table", "inner"}, {"table_table", "left"}, {"table_table", "outer"}} {
		seed := uint64(7101 + i)
		c := &sjCase{Name: fmt.Sprintf("%s_%s_seeded", kt[0], kt[1]), Kind: kt[0], Type: kt[1], Before: 5000, After: 5000, Seed: seed}
		c.Events = generateJoinEvents(seed, c, n, i%2 == 1, 8)
		cases = append(cases, withJoinCloser(c))
	}
	return cases
}

// parseJoinEvents reads "side key@ts[ value]", …: key _ is none, value -
// a tombstone; the value defaults to side+key+ts.
func parseJoinEvents(t *testing.T, name, spec string) []sjEvent {
	var events []sjEvent
	for _, ev := range strings.Split(spec, ",") {
		f := strings.Fields(ev)
		if len(f) < 2 {
			t.Fatalf("case %s: %q is not side key@ts", name, ev)
		}
		k, ts, ok := strings.Cut(f[1], "@")
		var n int64
		if _, err := fmt.Sscan(ts, &n); err != nil || !ok {
			t.Fatalf("case %s: %q is not side key@ts", name, ev)
		}
		e := sjEvent{Side: f[0], TS: n, Value: strp(f[0] + k + ts)}
		if len(f) > 2 {
			e.Value = strp(f[2])
			if f[2] == "-" {
				e.Value = nil
			}
		}
		if k != "_" {
			e.Key = strp(k)
		}
		events = append(events, e)
	}
	return events
}

func withJoinCloser(c *sjCase) *sjCase {
	var last int64
	for _, e := range c.Events {
		last = max(last, e.TS)
	}
	c.Events = append(c.Events, sjEvent{Side: "L", Key: strp(sjCloserKey), Value: strp("close"), TS: last + 86_400_000})
	return c
}

// generateJoinEvents makes n events on both sides: a clock moves forward,
// and each event is behind it by a delay that is mostly within the window,
// sometimes within grace past it, and now and then far behind; one in
// forty has no key, one in tombstoneEvery no value.
func generateJoinEvents(seed uint64, c *sjCase, n int, seconds bool, tombstoneEvery int) []sjEvent {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	keys := []string{"A", "B", "C", "D"}
	span := c.Before + c.After + c.Grace
	unit := int64(1)
	if seconds {
		unit = 1000
	}
	upTo := func(ms int64) int64 {
		if ms < unit {
			return 0
		}
		return r.Int64N(ms/unit+1) * unit
	}
	clock := int64(1_000_000)
	events := make([]sjEvent, 0, n)
	for i := range n {
		if seconds {
			clock += r.Int64N(3) * 1000
		} else {
			clock += r.Int64N(1201)
		}
		var delay int64
		switch p := r.IntN(100); {
		case p < 55:
		case p < 85:
			delay = upTo(max(c.Before, c.After))
		case p < 95:
			delay = upTo(span + unit)
		default:
			delay = upTo(3 * span)
		}
		side := "L"
		if r.IntN(2) == 0 {
			side = "R"
		}
		e := sjEvent{Side: side, Key: strp(keys[r.IntN(len(keys))]), Value: strp(fmt.Sprintf("%s%d", side, i)), TS: clock - delay}
		if r.IntN(40) == 0 {
			e.Key = nil
		} else if r.IntN(tombstoneEvery) == 0 {
			e.Value = nil
		}
		events = append(events, e)
	}
	return events
}

// runStreamsJoinReference runs every case through Kafka Streams in one JVM.
func runStreamsJoinReference(ctx context.Context, cases []*sjCase) (map[string][]sjResult, error) {
	var in struct {
		Cases []map[string]any `json:"cases"`
	}
	for _, c := range cases {
		var events [][4]any
		for _, e := range c.Events {
			events = append(events, [4]any{e.Side, e.Key, e.Value, e.TS})
		}
		in.Cases = append(in.Cases, map[string]any{"name": c.Name, "kind": c.Kind, "type": c.Type,
			"before": c.Before, "after": c.After, "grace": c.Grace, "events": events})
	}
	input, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "bash", streamsScript(), "join")
	cmd.Stdin = bytes.NewReader(input)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("the Kafka Streams join reference: %v\n%s\n%s", err, lastLines(stdout.String(), 5), lastLines(stderr.String(), 40))
	}
	out := map[string][]sjResult{}
	done := map[string]bool{}
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Case, Type, Message        string
			Key, Value                 *string
			TS                         int64
			After, Events, Results, MS int64
		}
		d := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		d.DisallowUnknownFields()
		if err := d.Decode(&line); err != nil {
			return nil, fmt.Errorf("a line of the Kafka Streams join reference: %v: %s", err, sc.Bytes())
		}
		switch line.Type {
		case "result":
			if line.Key == nil || *line.Key != sjCloserKey {
				out[line.Case] = append(out[line.Case], sjResult{line.Key, valueOrTombstone(line.Value), line.TS})
			}
		case "done":
			done[line.Case] = true
		default:
			return nil, fmt.Errorf("the Kafka Streams join reference: %s", sc.Bytes())
		}
	}
	for _, c := range cases {
		if !done[c.Name] {
			return nil, fmt.Errorf("the Kafka Streams join reference did not finish %s\n%s", c.Name, lastLines(stderr.String(), 40))
		}
	}
	return out, nil
}

// joinStep is the case's join processor, its sides told apart by the
// side header.
func (c *sjCase) joinStep() string {
	sides := `left: { when: 'headers.side == "L"' }
        right: { when: 'headers.side == "R"' }
        value: '(left ?? "-") + "|" + (right ?? "-")'
        type: ` + c.Type
	if c.Kind != "stream_stream" {
		return fmt.Sprintf("table_join:\n        kind: %s\n        %s", c.Kind, sides)
	}
	return fmt.Sprintf("stream_join:\n        window: { before: %dms, after: %dms, grace: %dms }\n        %s", c.Before, c.After, c.Grace, sides)
}

// runPipelineJoinCase runs the built binary on one case: the events in
// order from one file, their side in a header.
func runPipelineJoinCase(ctx context.Context, c *sjCase, dir string) ([]sjResult, error) {
	var input bytes.Buffer
	for _, e := range c.Events {
		line, err := json.Marshal(map[string]any{"s": e.Side, "k": e.Key, "v": e.Value, "t": e.TS})
		if err != nil {
			return nil, err
		}
		input.Write(append(line, '\n'))
	}
	in, out, cfg := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "pipeline.yaml")
	if err := os.WriteFile(in, input.Bytes(), 0o644); err != nil {
		return nil, err
	}
	config := fmt.Sprintf(`name: streams-join-diff
input:
  file: { paths: [%q], codec: json_lines }
pipeline:
  processors:
    - map: { key: value.k, timestamp: value.t, headers: { side: value.s } }
    - map: { value: value.v }
    - %s
output:
  file: { path: %q, codec: envelope }
state: { dir: %q }
http: { enabled: false }
`, in, c.joinStep(), out, filepath.Join(dir, "state"))
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		return nil, err
	}
	if err := runConfigIn(ctx, cfg, dir); err != nil {
		return nil, err
	}
	var results []sjResult
	err := forEachJSONLine(out, func(line []byte) error {
		var r struct {
			Key, Value *string
			Timestamp  int64
		}
		if err := json.Unmarshal(line, &r); err != nil {
			return err
		}
		if r.Key == nil || *r.Key != sjCloserKey {
			results = append(results, sjResult{r.Key, valueOrTombstone(r.Value), r.Timestamp})
		}
		return nil
	})
	return results, err
}
