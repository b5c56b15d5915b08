package tablejoin_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/processors/internal/proctest"
)

// changes makes one batch per change, "L k@3 A" meaning a left record of
// key k at 3 ms with value "A"; value - is a tombstone and key _ is none.
func changes(spec string) [][]*engine.Record {
	var batches [][]*engine.Record
	for _, ev := range strings.Split(spec, ",") {
		f := strings.Fields(ev)
		key, ts, _ := strings.Cut(f[1], "@")
		k, v := fmt.Sprintf("%q", key), fmt.Sprintf("%q", f[2])
		if key == "_" {
			k = "null"
		}
		if f[2] == "-" {
			v = "null"
		}
		batches = append(batches, proctest.JSON(fmt.Sprintf(`{"s":%q,"k":%s,"t":%s,"v":%s}`, f[0], k, ts, v)))
	}
	return batches
}

// tableJoin runs the changes through a table join and returns its results
// as "key@ts left|right" ("-" for a missing side), or "key@ts tombstone".
func tableJoin(t *testing.T, kind, typ, spec string) []string {
	t.Helper()
	h := proctest.New(changes(spec)...)
	h.MustRun(t, proctest.Pipeline(fmt.Sprintf(`
- map: { key: value.k, timestamp: value.t, headers: { side: value.s } }
- map: { value: value.v }
- table_join:
    left: { when: 'headers.side == "L"' }
    right: { when: 'headers.side == "R"' }
    kind: %s
    type: %s
    value: '(left ?? "-") + "|" + (right ?? "-")'
`, kind, typ))+fmt.Sprintf("state: {dir: %q}\n", t.TempDir()))
	var got []string
	for _, o := range h.Out("collect") {
		v := o.Value
		if o.Tombstone {
			v = "tombstone"
		}
		got = append(got, fmt.Sprintf("%s@%d %s", o.Key, o.Timestamp, v))
	}
	return got
}

// The example of Kafka Streams' join semantics documentation (the table of
// KTable–KTable and KStream–KTable joins, one key, a change per step).
const docExample = "L k@3 A, R k@4 a, L k@5 B, R k@6 b, L k@7 -, R k@8 -, L k@9 C, R k@10 c, " +
	"R k@11 -, L k@12 -, R k@13 -, R k@14 d, L k@15 D"

func TestTableTableJoinsAsKafkaStreams(t *testing.T) {
	for _, c := range []struct {
		typ  string
		want []string
	}{
		{"inner", []string{"k@4 A|a", "k@5 B|a", "k@6 B|b", "k@7 tombstone", "k@10 C|c", "k@11 tombstone", "k@15 D|d"}},
		{"left", []string{"k@3 A|-", "k@4 A|a", "k@5 B|a", "k@6 B|b", "k@7 tombstone", "k@9 C|-", "k@10 C|c", "k@11 C|-",
			"k@12 tombstone", "k@15 D|d"}},
		{"outer", []string{"k@3 A|-", "k@4 A|a", "k@5 B|a", "k@6 B|b", "k@7 -|b", "k@8 tombstone", "k@9 C|-", "k@10 C|c",
			"k@11 C|-", "k@12 tombstone", "k@14 -|d", "k@15 D|d"}},
	} {
		t.Run(c.typ, func(t *testing.T) {
			proctest.Equal(t, "results", tableJoin(t, "table_table", c.typ, docExample), c.want)
		})
	}
}

func TestStreamTableJoinsAsKafkaStreams(t *testing.T) {
	for _, c := range []struct {
		typ  string
		want []string
	}{
		{"inner", []string{"k@5 B|a", "k@15 D|d"}},
		{"left", []string{"k@3 A|-", "k@5 B|a", "k@9 C|-", "k@15 D|d"}},
	} {
		t.Run(c.typ, func(t *testing.T) {
			proctest.Equal(t, "results", tableJoin(t, "stream_table", c.typ, docExample), c.want)
		})
	}
}

func TestRecordsWithoutKeyOrValue(t *testing.T) {
	spec := "R k@1 a, L _@2 A, R _@3 b, L k@4 -, L k@5 B"
	proctest.Equal(t, "inner", tableJoin(t, "stream_table", "inner", spec), []string{"k@5 B|a"})
	// A left join emits a stream record without a key, unjoined (KIP-962).
	proctest.Equal(t, "left", tableJoin(t, "stream_table", "left", spec), []string{"@2 A|-", "k@5 B|a"})
	// In a table, a record without a key is dropped; a tombstone for a row
	// that never was still emits a tombstone where the other side has one
	// (inner), as Kafka Streams' sources forward it.
	proctest.Equal(t, "table inner", tableJoin(t, "table_table", "inner", "R k@1 a, L _@2 A, L k@3 -, L j@4 -"),
		[]string{"k@3 tombstone"})
}

func TestResultTimestampIsTheLaterRow(t *testing.T) {
	proctest.Equal(t, "results", tableJoin(t, "table_table", "inner", "L k@9 A, R k@4 a, R k@12 b"),
		[]string{"k@9 A|a", "k@12 A|b"})
}

func TestOuterNeedsTwoTables(t *testing.T) {
	h := proctest.New()
	_, err := h.Build(proctest.Pipeline(`
- table_join:
    left: { when: 'true' }
    right: { when: 'false' }
    type: outer
`))
	if err == nil || !strings.Contains(err.Error(), "outer needs kind table_table") {
		t.Fatalf("got %v, want the error that outer needs two tables", err)
	}
}
