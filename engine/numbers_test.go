package engine

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// TestNumbersRoundTrip: a number read from JSON keeps its value through
// decoding and encoding again (a map that changed the record re-encodes
// it); see exactNumber for the Go type each becomes.
func TestNumbersRoundTrip(t *testing.T) {
	negZero := math.Copysign(0, -1)
	for _, tt := range []struct {
		literal string
		want    any // the decoded value
		written string
	}{
		{"1234567890123456789", int64(1234567890123456789), "1234567890123456789"},
		{"9007199254740993", int64(9007199254740993), "9007199254740993"},
		{"-9223372036854775808", int64(math.MinInt64), "-9223372036854775808"},
		{"9223372036854775807", int64(math.MaxInt64), "9223372036854775807"},
		{"9223372036854775808", json.Number("9223372036854775808"), "9223372036854775808"},
		{"-9223372036854775809", json.Number("-9223372036854775809"), "-9223372036854775809"},
		{"123456789012345678901234567890", json.Number("123456789012345678901234567890"), "123456789012345678901234567890"},
		{"1e400", json.Number("1e400"), "1e400"},
		{"-1e400", json.Number("-1e400"), "-1e400"},
		{"1e-400", json.Number("1e-400"), "1e-400"},
		{"0.1", 0.1, "0.1"},
		{"12345678.9", 12345678.9, "12345678.9"},
		{"2.5e-8", 2.5e-8, "2.5e-8"},
		{"1E-7", 1e-7, "1e-7"},
		{"1.50", 1.5, "1.5"},
		{"1.7976931348623157e308", math.MaxFloat64, "1.7976931348623157e+308"},
		{"5e-324", 5e-324, "5e-324"},
		{"1e21", 1e21, "1e+21"},
		{"0.1000000000000000000001", json.Number("0.1000000000000000000001"), "0.1000000000000000000001"},
		{"3.14159265358979323846", json.Number("3.14159265358979323846"), "3.14159265358979323846"},
		{"9007199254740993.0", int64(9007199254740993), "9007199254740993"},
		{"1", int64(1), "1"},
		{"1.0", int64(1), "1"},
		{"1e3", int64(1000), "1000"},
		{"0", int64(0), "0"},
		{"0.0", int64(0), "0"},
		{"-0", negZero, "-0"},
		{"-0.0", negZero, "-0"},
	} {
		t.Run(tt.literal, func(t *testing.T) {
			r := NewRecord([]byte(`{"n":`+tt.literal+`,"list":[`+tt.literal+`]}`), JSON)
			v, err := r.Value()
			if err != nil {
				t.Fatal(err)
			}
			m := v.(map[string]any)
			for _, got := range []any{m["n"], m["list"].([]any)[0]} {
				if !sameNumber(got, tt.want) {
					t.Fatalf("decoded %#v (%T), want %#v (%T)", got, got, tt.want, tt.want)
				}
			}
			r.SetValue(v) // as a processor that changed the record does
			b, err := r.Bytes()
			if want := `{"list":[` + tt.written + `],"n":` + tt.written + `}`; err != nil || string(b) != want {
				t.Fatalf("written %s (%v), want %s", b, err, want)
			}
			top := NewRecord([]byte(tt.literal), JSON)
			v, _ = top.Value()
			top.SetValue(v)
			if b, err := top.Bytes(); err != nil || string(b) != tt.written {
				t.Fatalf("a number alone is written %s (%v), want %s", b, err, tt.written)
			}
		})
	}
}

func sameNumber(a, b any) bool {
	fa, aok := a.(float64)
	fb, bok := b.(float64)
	if aok && bok {
		return fa == fb && math.Signbit(fa) == math.Signbit(fb)
	}
	return reflect.DeepEqual(a, b)
}

// TestDecodeJSONErrors: invalid JSON is reported as json.Unmarshal reports
// it.
func TestDecodeJSONErrors(t *testing.T) {
	for in, want := range map[string]string{
		`{oops`:   "value is not valid JSON: invalid character 'o' looking for beginning of object key string",
		`{"a":1`:  "value is not valid JSON: unexpected end of JSON input",
		`1 2`:     "value is not valid JSON: invalid character '2' after top-level value",
		`{} {}`:   "value is not valid JSON: invalid character '{' after top-level value",
		``:        "value is not valid JSON: unexpected end of JSON input",
		`[1, 2,]`: "value is not valid JSON: invalid character ']' looking for beginning of value",
	} {
		_, err := NewRecord([]byte(in), JSON).Value()
		if err == nil || err.Error() != want {
			t.Errorf("%q: error %v, want %s", in, err, want)
		}
	}
	if v, err := NewRecord([]byte(" [1] \n"), JSON).Value(); err != nil || !reflect.DeepEqual(v, []any{int64(1)}) {
		t.Errorf("surrounding space: %#v, %v", v, err)
	}
}

// TestEncodeUnencodable: NaN and ±Inf (0.0/0.0, 1/0 in an expression)
// cannot be JSON; the error names where in the value they are.
func TestEncodeUnencodable(t *testing.T) {
	for _, tt := range []struct {
		value any
		want  string
	}{
		{math.NaN(), "value: NaN cannot be written as JSON"},
		{map[string]any{"ok": 1, "ratio": math.NaN()}, "value.ratio: NaN cannot be written as JSON"},
		{map[string]any{"a": map[string]any{"z": math.Inf(1), "b": []any{int64(1), math.Inf(-1)}}}, "value.a.b.1: -Inf cannot be written as JSON"},
		{[]any{float32(1), map[string]any{"f": func() {}}}, "value.1.f: func() cannot be written as JSON: json: unsupported type: func()"},
	} {
		r := NewRecord(nil, JSON)
		r.SetValue(tt.value)
		_, err := r.Bytes()
		var ue *UnencodableError
		if err == nil || err.Error() != tt.want || !errors.As(err, &ue) {
			t.Errorf("%v: error %v (%T), want %s as an *UnencodableError", tt.value, err, err, tt.want)
		}
	}
	if _, err := EncodeJSON("before", map[string]any{"x": math.NaN()}); err == nil || err.Error() != "before.x: NaN cannot be written as JSON" {
		t.Errorf("EncodeJSON(before): %v", err)
	}
	if b, err := EncodeValue(map[string]any{"big": json.Number("1e400"), "s": "<&>"}); err != nil || !strings.Contains(string(b), `"big":1e400`) {
		t.Errorf("json.Number: %s, %v", b, err)
	}
}

// TestTokenDecodingAgreesWithExact: the token decoder DecodeJSON takes
// first gives exactly what encoding/json with every literal decoded
// exactly gives, for number literals of every shape and for the documents
// where the two libraries could differ (invalid UTF-8, duplicate names,
// escapes, nesting, what follows the value); a document one refuses the
// other refuses too.
func TestTokenDecodingAgreesWithExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100_000 {
		digits := func(n int) string {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte('0' + rng.IntN(10))
			}
			return string(b)
		}
		literal := strings.TrimLeft(digits(1+rng.IntN(25)), "0")
		if literal == "" || rng.IntN(4) == 0 {
			literal = "0"
		}
		if rng.IntN(2) == 0 {
			literal += "." + digits(1+rng.IntN(20))
		}
		if rng.IntN(3) == 0 {
			literal += "e" + []string{"", "-", "+"}[rng.IntN(3)] + digits(1+rng.IntN(3))
		}
		if rng.IntN(2) == 0 {
			literal = "-" + literal
		}
		requireTokenAgrees(t, `[`+literal+`]`)
	}
	for _, doc := range []string{
		`{"a":"1234567890123456789","b":true,"c":false,"d":null}`, `{"a":"x\"1"}`, `{"a":1,"a":2}`,
		"{\"a\":\"\xff\xfe ok\"}", `"\ud800"`, `"\u00e9\n\t\/"`, `[[],{},[{}],""]`, `  {"a" : [ 1 , 2 ] }  `,
		`-0`, `-0.0`, `1.0`, `1e3`, `9223372036854775807`, `-9223372036854775808`, `9223372036854775808`,
		`999999999999999999`, `-999999999999999999`, `1e400`, `0.1000000000000000000001`,
		``, ` `, `{`, `{"a":1,}`, `[1,]`, `01`, `1.`, `.5`, `+1`, `NaN`, `Infinity`, `{"a":1} x`, `1 2`, `"a\x"`,
		"\"a\nb\"", "\"a\x01b\"", `{a:1}`, `[1 2]`, `tru`, `nul`, strings.Repeat(`[`, 20000) + strings.Repeat(`]`, 20000),
	} {
		requireTokenAgrees(t, doc)
	}
}

func requireTokenAgrees(t *testing.T, doc string) {
	t.Helper()
	token, ok := decodeTokens([]byte(doc))
	exact, err := decodeNumbersExactly([]byte(doc))
	if ok != (err == nil) || ok && !sameTree(token, exact) {
		t.Fatalf("%.80q: tokens %#v (taken %v), encoding/json %#v (%v)", doc, token, ok, exact, err)
	}
}

// FuzzNumberKeepsItsValue: whatever a number literal decodes to is written
// back as a literal of the same value.
func FuzzNumberKeepsItsValue(f *testing.F) {
	for _, s := range []string{"1", "-0", "0.1", "1e400", "9223372036854775808", "1.0", "1E-7", "123.456e-310"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, literal string) {
		var n json.Number
		if strings.TrimSpace(literal) != literal || strings.HasPrefix(literal, `"`) || json.Unmarshal([]byte(literal), &n) != nil {
			return // not a number literal
		}
		v, err := DecodeJSON([]byte(literal))
		if err != nil {
			t.Fatal(err)
		}
		b, err := EncodeValue(v)
		if err != nil {
			t.Fatal(err)
		}
		written, ok := parseDecimal(literal)
		if !ok { // an exponent beyond int: kept as written
			if string(b) != literal {
				t.Fatalf("%s was written back as %s", literal, b)
			}
			return
		}
		if read, ok := parseDecimal(string(b)); !ok || !written.equal(read) {
			t.Fatalf("%s was written back as %s", literal, b)
		}
	})
}

// FuzzTokenDecodingAgreesWithExact: for any document, the token decoder
// and encoding/json take or refuse it alike, and decode it alike.
func FuzzTokenDecodingAgreesWithExact(f *testing.F) {
	for _, s := range []string{`{"a":[1,-0,0.5,"1e999"],"b":true}`, `[123456789012345, -0.00000001]`, `"\"1"`, "\"\xff\"", `{"a":1,"a":2}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		requireTokenAgrees(t, doc)
	})
}

func sameTree(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if !sameTree(v, y[k]) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameTree(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return sameNumber(a, b)
}
