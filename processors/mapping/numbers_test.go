package mapping_test

import (
	"testing"

	"github.com/pipelinehq/pipeline/processors/internal/proctest"
)

// numbersRecord holds numbers a float64 cannot all hold: beyond 2^53,
// int64's ends, beyond int64, beyond float64, and -0.
const numbersRecord = `{"big":1234567890123456789,"odd":9007199254740993,"min":-9223372036854775808,"max":9223372036854775807,` +
	`"beyond":9223372036854775808,"huge":1e400,"tenth":0.1,"whole":1.0,"one":1,"zero":-0}`

// TestNumbersPassAMapUnchanged: a record a map changes is encoded again,
// and every number in it keeps its value (1.0 is written 1).
func TestNumbersPassAMapUnchanged(t *testing.T) {
	const kept = `"beyond":9223372036854775808,"big":1234567890123456789,"huge":1e400,"max":9223372036854775807,` +
		`"min":-9223372036854775808,"odd":9007199254740993,"one":1,"tenth":0.1,"whole":1,"zero":-0`
	for _, tt := range []struct{ name, processor, want string }{
		{"set", `- map: { set: { added: 'true' } }`, `{"added":true,` + kept + `}`},
		{"delete", `- map: { delete: [nothing] }`, `{` + kept + `}`},
		{"value", `- map: { value: 'value' }`, `{` + kept + `}`},
		{"a value built of fields", `- map: { value: '{"big": value.big, "odd": value.odd + 0, "min": value.min, "beyond": value.beyond, "huge": value.huge}' }`,
			`{"beyond":9223372036854775808,"big":1234567890123456789,"huge":1e400,"min":-9223372036854775808,"odd":9007199254740993}`},
		{"fields set from fields", `- map: { set: { copy: value.odd, next: 'value.odd + 1', less: 'value.max - 1' } }`,
			`{"beyond":9223372036854775808,"big":1234567890123456789,"copy":9007199254740993,"huge":1e400,"less":9223372036854775806,` +
				`"max":9223372036854775807,"min":-9223372036854775808,"next":9007199254740994,"odd":9007199254740993,"one":1,"tenth":0.1,"whole":1,"zero":-0}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := proctest.New(proctest.JSON(numbersRecord))
			h.MustRun(t, proctest.Pipeline(tt.processor))
			proctest.Equal(t, "output", h.Values("collect"), []string{tt.want})
			proctest.Equal(t, "dead letters", h.Values("dead_letter"), []string(nil))
		})
	}
}

// TestIntegerOverflowInAMapFailsTheRecord: an overflow is the record's
// error (dead letter), never a wrapped value; the other records go on.
func TestIntegerOverflowInAMapFailsTheRecord(t *testing.T) {
	h := proctest.New(proctest.JSON(`{"n":9223372036854775807}`, `{"n":2}`, `{"n":-9223372036854775808}`))
	h.MustRun(t, proctest.Pipeline(`- map: { set: { twice: 'value.n * 2', negated: '-value.n' } }`))
	proctest.Equal(t, "output", h.Values("collect"), []string{`{"n":2,"negated":-2,"twice":4}`})
	proctest.Equal(t, "failed", h.Failures(t, "pipeline.processors.0"), []proctest.Failed{
		{Value: `{"n":9223372036854775807}`, Error: "set twice: value.n * 2: integer overflow: 9223372036854775807 * 2 (column 9)"},
		{Value: `{"n":-9223372036854775808}`, Error: "set twice: value.n * 2: integer overflow: -9223372036854775808 * 2 (column 9)"},
	})
}

// TestNumbersAsKeysAndHeaders: a number becomes its exact decimal text,
// also one kept as its JSON literal.
func TestNumbersAsKeysAndHeaders(t *testing.T) {
	for field, want := range map[string]string{"big": "1234567890123456789", "beyond": "9223372036854775808", "huge": "1e400", "tenth": "0.1"} {
		h := proctest.New(proctest.JSON(numbersRecord))
		h.MustRun(t, proctest.Pipeline(`- map: { key: 'value.`+field+`', headers: { n: 'value.`+field+`' } }`))
		out := h.Out("collect")
		if len(out) != 1 || out[0].Key != want || out[0].Headers[0] != "n="+want {
			t.Errorf("%s: %+v, want key and header %s (dead letters %v)", field, out, want, h.Values("dead_letter"))
		}
	}
}
