package cdcevent

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/pipelinehq/pipeline/engine"
)

// A one-column key is written without a map, as EncodeJSON writes the map.
func TestOneColumnKeyIsTheMapsEncoding(t *testing.T) {
	for _, name := range []string{"id", "a<b&c", "é"} {
		for _, v := range []any{int64(-7), "x <&> \"y\"", json.Number("12345678901234567890"), nil, 1.5, true, uint64(math.MaxUint64)} {
			tbl := &Table{Key: []string{name}}
			got, err := Key(tbl, map[string]any{name: v, "other": 1})
			if err != nil {
				t.Fatal(err)
			}
			want, _ := engine.EncodeJSON("key", map[string]any{name: v})
			if string(got) != string(want) {
				t.Errorf("key %s = %v: %s, want %s", name, v, got, want)
			}
		}
	}
	if _, err := Key(&Table{Key: []string{"x"}}, map[string]any{"x": math.NaN()}); err == nil || !strings.Contains(err.Error(), "key.x") {
		t.Errorf("a NaN key: %v, want the column named", err)
	}
	two, err := Key(&Table{Key: []string{"b", "a"}}, map[string]any{"a": int64(1), "b": "2"})
	if err != nil || string(two) != `{"a":1,"b":"2"}` {
		t.Errorf("two columns: %s, %v", two, err)
	}
}
