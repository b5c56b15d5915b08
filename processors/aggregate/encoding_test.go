package aggregate

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
)

func TestStatesRoundTrip(t *testing.T) {
	states := []opState{
		{},
		{N: 3},
		{N: -2, F: 2.5},
		{V: "x", S: true, T: -7},
		{V: nil, S: true},
		{L: []any{int64(1), 1.5, "a", map[string]any{"b": true}}},
		{F: math.Inf(1)},
		{N: 2, I: math.MinInt64, F: 0.5, Floats: true},
		{I: 9007199254740993},
		{N: 1, Floats: true},
		// Numbers kept in state come back exactly, integers as integers.
		{V: int64(9007199254740993), S: true, L: []any{int64(math.MaxInt64), json.Number("9223372036854775808"), json.Number("1e400")}},
	}
	got, err := decodeStates(appendStates(nil, states))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, states) {
		t.Fatalf("got %#v\nwant %#v", got, states)
	}
	for _, bad := range [][]byte{nil, {'['}, {stateFormat, hasF, 1}, {stateFormat, hasV, 9, '"'}} {
		if _, err := decodeStates(bad); err == nil {
			t.Errorf("decodeStates(%q) accepted corrupt state", bad)
		}
	}
}

func TestAppendKeyIsJSON(t *testing.T) {
	for _, v := range []any{"plain", "quo\"te\n", "é漢", int64(-5), 4500.0, 1.5, 1e300, true, nil, []any{1.0, "a"}, map[string]any{"k": 1.0}} {
		got, err := appendKey(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(v)
		if string(got) != string(want) {
			t.Errorf("appendKey(%#v) = %s, want %s", v, got, want)
		}
	}
}
