package engine

import (
	"bytes"
	"encoding/json"
	"testing"
)

// The escaper writes the very bytes encoding/json writes, with and without HTML escaping.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "\"\\/\b\f\n\r\t", "\x00\x1f\x7f", "é漢字🙂", "\xff\xfe", "a\xc3", "\u2028\u2029", "<script>&"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var plain bytes.Buffer
		enc := json.NewEncoder(&plain)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		want := bytes.TrimSuffix(plain.Bytes(), []byte("\n"))
		if got := AppendJSONString(nil, []byte(s)); !bytes.Equal(got, want) {
			t.Fatalf("AppendJSONString(%q) = %s, encoding/json without HTML escaping writes %s", s, got, want)
		}
		wantHTML, _ := json.Marshal(s)
		if got := appendMarshalString(nil, s); !bytes.Equal(got, wantHTML) {
			t.Fatalf("appendMarshalString(%q) = %s, json.Marshal writes %s", s, got, wantHTML)
		}
	})
}
