package streamjoin_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/processors/internal/proctest"
)

// events makes one batch per event, "L a@1000 x" meaning a left record of
// key a at 1000 ms with value "x" (the value defaults to side+key+ts); key
// _ is none.
func events(spec string) [][]*engine.Record {
	var batches [][]*engine.Record
	for _, ev := range strings.Split(spec, ",") {
		f := strings.Fields(ev)
		side, kt := f[0], f[1]
		key, ts, _ := strings.Cut(kt, "@")
		v := side + key + ts
		if len(f) > 2 {
			v = f[2]
		}
		k := fmt.Sprintf("%q", key)
		if key == "_" {
			k = "null"
		}
		batches = append(batches, proctest.JSON(fmt.Sprintf(`{"s":%q,"k":%s,"t":%s,"v":%q}`, side, k, ts, v)))
	}
	return batches
}

// join runs the events through a stream join of type typ and window win,
// and returns its results as "key@ts left|right".
func join(t *testing.T, typ, win, spec string) []string {
	t.Helper()
	h := proctest.New(events(spec)...)
	h.MustRun(t, proctest.Pipeline(fmt.Sprintf(`
- map: { key: value.k, timestamp: value.t }
- stream_join:
    left: { when: 'value.s == "L"' }
    right: { when: 'value.s == "R"' }
    type: %s
    window: %s
    value: '(left == nil ? "-" : left.v) + "|" + (right == nil ? "-" : right.v)'
`, typ, win))+fmt.Sprintf("state: {dir: %q}\n", t.TempDir()))
	var got []string
	for _, o := range h.Out("collect") {
		got = append(got, fmt.Sprintf("%s@%d %s", o.Key, o.Timestamp, o.Value))
	}
	return got
}

func TestJoinsAsKafkaStreams(t *testing.T) {
	cases := []struct {
		name, typ, win, events string
		want                   []string
	}{
		{"inner matches within the window, at the later timestamp", "inner", "{ within: 5s }",
			"L a@1000, R a@3000, R a@7000, L a@6500, R b@6000",
			[]string{"a@3000 La1000|Ra3000", "a@6500 La6500|Ra3000", "a@7000 La6500|Ra7000"}},
		{"before and after swap for the right side", "inner", "{ before: 1s, after: 5s }",
			"L a@10000, R a@8500, R a@14000, L b@20000, R b@19500",
			[]string{"a@14000 La10000|Ra14000", "b@20000 Lb20000|Rb19500"}},
		{"left: unmatched only once the window closed", "left", "{ within: 5s, grace: 1s }",
			"L a@1000, R b@6000, R b@7000, R a@5500, L c@7001, R x@13002",
			// a@1000 matched by a@5500 (in grace); c@7001 closes at 13001 + … only when stream time passes 7001+5000+1000.
			[]string{"a@5500 La1000|Ra5500", "c@7001 Lc7001|-"}},
		{"left: a record later than its window is emitted at once", "left", "{ within: 5s }",
			"R x@20000, L a@1000",
			[]string{"a@1000 La1000|-"}},
		{"outer: both sides' unmatched records, in Kafka Streams' order", "outer", "{ within: 1s }",
			"L a@1000, R a@1000 r1, R b@1500, L c@1500, L z@9000",
			[]string{"a@1000 La1000|r1", "b@1500 -|Rb1500", "c@1500 Lc1500|-", "z@9000 Lz9000|-"}},
		{"inner: records without a key are dropped", "inner", "{ within: 1s }",
			"L _@1000, R _@1000, R a@1000, L a@1000",
			[]string{"a@1000 La1000|Ra1000"}},
		{"left: a left record without a key is emitted at once", "left", "{ within: 1s }",
			"L _@1000, R _@1000, L a@900",
			[]string{"@1000 L_1000|-", "a@900 La900|-"}},
		{"end of input emits what still waits", "left", "{ within: 1h }",
			"L a@1000, L b@2000, R a@3000",
			[]string{"a@3000 La1000|Ra3000", "b@2000 Lb2000|-"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			proctest.Equal(t, "results", join(t, c.typ, c.win, c.events), c.want)
		})
	}
}
