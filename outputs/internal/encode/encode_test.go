package encode

import (
	"encoding/json"
	"errors"
	"math"
	"testing"

	"github.com/pipelinehq/pipeline/engine"
)

type recSpec struct {
	value   string
	json    bool // value bytes are JSON
	decoded any  // when set, the value is this decoded value
	key     []byte
	headers []engine.Header
	ts      int64
	// A record without a value (value, json and decoded unused), or a
	// change of a row.
	tombstone bool
	op        engine.Operation
	before    any
}

func (s recSpec) record() *engine.Record {
	format := engine.Text
	if s.json {
		format = engine.JSON
	}
	r := engine.NewRecord([]byte(s.value), format)
	if s.tombstone {
		r = engine.NewRecord(nil, format)
	}
	if s.decoded != nil {
		r.SetValue(s.decoded)
	}
	r.Key, r.Headers, r.Timestamp, r.Op, r.Before = s.key, s.headers, s.ts, s.op, s.before
	return r
}

func TestEncode(t *testing.T) {
	hdr := func(kv ...string) []engine.Header {
		var hs []engine.Header
		for i := 0; i < len(kv); i += 2 {
			hs = append(hs, engine.Header{Key: kv[i], Value: []byte(kv[i+1])})
		}
		return hs
	}
	tests := []struct {
		name                       string
		rec                        recSpec
		lines, jsonLines, envelope string
	}{
		{name: "text", rec: recSpec{value: `say "hi"`, ts: 5},
			lines: `say "hi"`, jsonLines: `"say \"hi\""`, envelope: `{"key":null,"value":"say \"hi\"","timestamp":5}`},
		{name: "json bytes", rec: recSpec{value: `{"a": [1, 2]}`, json: true},
			lines: `{"a": [1, 2]}`, jsonLines: `{"a": [1, 2]}`, envelope: `{"key":null,"value":{"a": [1, 2]},"timestamp":0}`},
		{name: "json over lines is compacted", rec: recSpec{value: "{\n  \"a\": 1\n}", json: true},
			lines: "{\n  \"a\": 1\n}", jsonLines: `{"a":1}`, envelope: `{"key":null,"value":{"a":1},"timestamp":0}`},
		{name: "invalid json", rec: recSpec{value: `{oops`, json: true},
			lines: `{oops`, jsonLines: `{oops`, envelope: `{"key":null,"value":"{oops","timestamp":0}`},
		{name: "invalid json over lines", rec: recSpec{value: "{oops\n}", json: true},
			lines: "{oops\n}", jsonLines: `"{oops\n}"`, envelope: `{"key":null,"value":"{oops\n}","timestamp":0}`},
		{name: "decoded map", rec: recSpec{decoded: map[string]any{"b": 1, "a": "x"}},
			lines: `{"a":"x","b":1}`, jsonLines: `{"a":"x","b":1}`, envelope: `{"key":null,"value":{"a":"x","b":1},"timestamp":0}`},
		{name: "decoded string", rec: recSpec{decoded: "plain"},
			lines: `plain`, jsonLines: `"plain"`, envelope: `{"key":null,"value":"plain","timestamp":0}`},
		{name: "decoded number", rec: recSpec{decoded: 42},
			lines: `42`, jsonLines: `42`, envelope: `{"key":null,"value":42,"timestamp":0}`},
		{name: "key and headers", rec: recSpec{value: "v", key: []byte("k1"), headers: hdr("error", "boom\n", "n", "1"), ts: 1700000000000},
			lines: "v", jsonLines: `"v"`, envelope: `{"key":"k1","value":"v","headers":{"error":"boom\n","n":"1"},"timestamp":1700000000000}`},
		{name: "empty key, repeated header", rec: recSpec{value: "v", key: []byte{}, headers: hdr("a", "1", "b", "2", "a", "3")},
			lines: "v", jsonLines: `"v"`, envelope: `{"key":"","value":"v","headers":{"b":"2","a":"3"},"timestamp":0}`},
		{name: "tombstone read as text", rec: recSpec{tombstone: true, key: []byte("k")},
			lines: "", jsonLines: `null`, envelope: `{"key":"k","value":null,"timestamp":0}`},
		{name: "tombstone read as json", rec: recSpec{tombstone: true, json: true},
			lines: "", jsonLines: `null`, envelope: `{"key":null,"value":null,"timestamp":0}`},
		{name: "the JSON text null is a value", rec: recSpec{value: "null", json: true},
			lines: "null", jsonLines: `null`, envelope: `{"key":null,"value":null,"timestamp":0}`},
		{name: "an update with the row before", rec: recSpec{value: `{"id":1,"n":2}`, json: true, op: engine.OpUpdate, before: map[string]any{"id": int64(1), "n": int64(1)}},
			lines: `{"id":1,"n":2}`, jsonLines: `{"id":1,"n":2}`, envelope: `{"key":null,"value":{"id":1,"n":2},"op":"u","before":{"id":1,"n":1},"timestamp":0}`},
		{name: "a delete", rec: recSpec{tombstone: true, key: []byte("1"), op: engine.OpDelete, before: map[string]any{"id": int64(1)}},
			lines: "", jsonLines: `null`, envelope: `{"key":"1","value":null,"op":"d","before":{"id":1},"timestamp":0}`},
		{name: "escapes", rec: recSpec{value: "tab\t<&>\x01\u2028é\xff"},
			lines: "tab\t<&>\x01\u2028é\xff", jsonLines: `"tab\t<&>\u0001\u2028é\ufffd"`, envelope: `{"key":null,"value":"tab\t<&>\u0001\u2028é\ufffd","timestamp":0}`},
	}
	for _, tt := range tests {
		for codec, want := range map[string]string{Lines: tt.lines, JSONLines: tt.jsonLines, Envelope: tt.envelope} {
			enc, err := New(codec)
			if err != nil {
				t.Fatal(err)
			}
			got, err := enc.Encode([]*engine.Record{tt.rec.record()})
			if err != nil {
				t.Fatalf("%s/%s: %v", tt.name, codec, err)
			}
			if string(got) != want+"\n" {
				t.Errorf("%s/%s:\ngot  %s\nwant %s", tt.name, codec, got, want)
			}
			if codec != Lines && !json.Valid(got) && tt.name != "invalid json" {
				t.Errorf("%s/%s: not valid JSON: %s", tt.name, codec, got)
			}
		}
	}
}

func TestEncodeBatchReusesBuffer(t *testing.T) {
	enc, _ := New(Lines)
	recs := []*engine.Record{engine.NewRecord([]byte("a"), engine.Text), engine.NewRecord([]byte("bc"), engine.Text)}
	got, err := enc.Encode(recs)
	if err != nil || string(got) != "a\nbc\n" {
		t.Fatalf("got %q, %v", got, err)
	}
	if got, _ := enc.Encode(recs[1:]); string(got) != "bc\n" {
		t.Fatalf("second batch: %q", got)
	}
	if got, _ := enc.Encode(nil); len(got) != 0 {
		t.Fatalf("empty batch: %q", got)
	}
	for _, codec := range []string{Lines, JSONLines} {
		enc, _ := New(codec)
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := enc.Encode(recs); err != nil {
				t.Fatal(err)
			}
		})
		if codec == Lines && allocs != 0 {
			t.Errorf("%s: %v allocations per batch, want 0", codec, allocs)
		}
	}
}

// TestEncodeError: a value JSON cannot hold (NaN, ±Inf) fails its record
// alone, with an error that names the record and the field and that
// outputs can tell from their own failures.
func TestEncodeError(t *testing.T) {
	for _, tt := range []struct {
		rec  recSpec
		want string
	}{
		{recSpec{decoded: map[string]any{"ok": 1, "ratio": math.NaN()}}, "value.ratio: NaN cannot be written as JSON"},
		{recSpec{decoded: []any{math.Inf(1)}}, "value.0: +Inf cannot be written as JSON"},
		{recSpec{decoded: math.Inf(-1)}, "value: -Inf cannot be written as JSON"},
	} {
		for _, codec := range []string{Lines, JSONLines, Envelope} {
			r := tt.rec.record()
			ok := engine.NewRecord([]byte("ok"), engine.Text)
			enc, _ := New(codec)
			encoded, err := enc.Encode([]*engine.Record{ok, r, ok})
			buf := string(encoded) // before the next Encode reuses it
			var rejected *engine.RecordsRejected
			var ue *engine.UnencodableError
			if !errors.As(err, &rejected) || len(rejected.Rejects) != 1 || rejected.Rejects[0].Index != 1 ||
				rejected.Rejects[0].Err.Error() != tt.want || !errors.As(rejected.Rejects[0].Err, &ue) {
				t.Fatalf("%s: %v, want record 1 rejected with %q, an *engine.UnencodableError", codec, err, tt.want)
			}
			want, _ := enc.Encode([]*engine.Record{ok, ok})
			if buf != string(want) {
				t.Errorf("%s: the records around the rejected one: %q, want %q", codec, buf, want)
			}
		}
	}
	before := recSpec{value: "v", before: map[string]any{"n": math.NaN()}}.record()
	enc, _ := New(Envelope)
	var rejected *engine.RecordsRejected
	if _, err := enc.Encode([]*engine.Record{before}); !errors.As(err, &rejected) || rejected.Rejects[0].Err.Error() != "before.n: NaN cannot be written as JSON" {
		t.Errorf("before: %v", err)
	}
	if _, err := New("xml"); err == nil || err.Error() != `unknown codec "xml"` {
		t.Errorf("New(xml): %v", err)
	}
}

// TestEncodeNumbersExactly: numbers read from JSON are written as they
// were, also when the value was decoded and changed (the map processor).
func TestEncodeNumbersExactly(t *testing.T) {
	in := `{"beyond":9223372036854775808,"big":1234567890123456789,"huge":1e400,"min":-9223372036854775808,"odd":9007199254740993,"pi":3.14159265358979323846,"tenth":0.1,"zero":-0}`
	r := engine.NewRecord([]byte(in), engine.JSON)
	v, err := r.Value()
	if err != nil {
		t.Fatal(err)
	}
	v.(map[string]any)["added"] = true
	r.SetValue(v)
	for codec, want := range map[string]string{
		Lines:     `{"added":true,` + in[1:],
		JSONLines: `{"added":true,` + in[1:],
		Envelope:  `{"key":null,"value":{"added":true,` + in[1:] + `,"timestamp":0}`,
	} {
		enc, _ := New(codec)
		got, err := enc.Encode([]*engine.Record{r})
		if err != nil || string(got) != want+"\n" {
			t.Errorf("%s:\ngot  %s (%v)\nwant %s", codec, got, err, want)
		}
	}
}
