package engine

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestAppendJSONWritesWhatMarshalWrites: the fast encoder's bytes are
// json.Marshal's, for every kind of value a record holds and for the
// types it leaves to json.Marshal.
func TestAppendJSONWritesWhatMarshalWrites(t *testing.T) {
	values := []any{
		nil, true, false, "", "plain", "<a href=\"x\">&amp;</a>", "tab\there\nnew\rline\b\f\x00\x1f\x7f",
		"caf\u00e9 \u2028 \u2029 \U0001F600", "bad \xff\xfe utf8", `back\slash`,
		int64(0), int64(math.MaxInt64), int64(math.MinInt64), 42, uint64(math.MaxUint64),
		0.0, math.Copysign(0, -1), 1.5, -2.25, 1e-6, 9.99e-7, 1e20, 1e21, 123456789012345678901234.0, 5e-324, math.MaxFloat64,
		json.Number("1234567890123456789"), json.Number("1.50"), float32(1.1), time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
		[]any{}, []any(nil), map[string]any{}, map[string]any(nil), map[string]string{"b": "1", "a": "<"},
		map[string]any{"z": 1, "a": []any{map[string]any{"y": nil, "x": "é"}}, "m": map[string]any{"<k>": 2.5}},
	}
	for _, v := range values {
		same(t, v)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		same(t, randomValue(r, 3))
	}
}

func same(t *testing.T, v any) {
	t.Helper()
	want, err := json.Marshal(v)
	if err != nil {
		if _, ours := appendJSON(nil, v); ours == nil {
			t.Errorf("appendJSON(%#v) encoded what json.Marshal refuses: %v", v, err)
		}
		return
	}
	got, err := appendJSON(nil, v)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("appendJSON(%#v) = %s, %v; json.Marshal writes %s", v, got, err, want)
	}
}

func randomString(r *rand.Rand) string {
	b := make([]byte, r.IntN(12))
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	return string(b)
}

func randomValue(r *rand.Rand, depth int) any {
	kind := r.IntN(9)
	if depth == 0 {
		kind %= 6
	}
	switch kind {
	case 0:
		return nil
	case 1:
		return r.IntN(2) == 0
	case 2:
		return r.Int64() - r.Int64()
	case 3:
		return math.Float64frombits(r.Uint64())
	case 4:
		return r.NormFloat64() * math.Pow(10, float64(r.IntN(60)-30))
	case 5:
		return randomString(r)
	case 6, 7:
		m := map[string]any{}
		for range r.IntN(5) {
			m[randomString(r)] = randomValue(r, depth-1)
		}
		return m
	default:
		l := make([]any, r.IntN(5))
		for i := range l {
			l[i] = randomValue(r, depth-1)
		}
		return l
	}
}

// TestAppendJSONRefusesNonFinite: NaN and ±Inf are errors, as with
// json.Marshal, so that EncodeJSON names where they are.
func TestAppendJSONRefusesNonFinite(t *testing.T) {
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if _, err := appendJSON(nil, map[string]any{"a": []any{f}}); err == nil {
			t.Errorf("%v was encoded", f)
		}
	}
	if _, err := EncodeJSON("value", map[string]any{"a": []any{1, math.NaN()}}); err == nil || err.Error() != "value.a.1: NaN cannot be written as JSON" {
		t.Errorf("EncodeJSON: %v", err)
	}
}
