package engine

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestPositionJSONRoundTrip(t *testing.T) {
	p := IntPosition("offset", 9007199254740993).WithString("head", "ab\"c").WithInt("n", -1)
	b, err := json.Marshal(Checkpoint{Partition: "f", Position: p})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"partition":"f","position":{"offset":9007199254740993,"head":"ab\"c","n":-1}}`
	if string(b) != want {
		t.Fatalf("encoded %s\nwant    %s", b, want)
	}
	var back Checkpoint
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !back.Position.Equal(p) || back.Partition != "f" {
		t.Fatalf("decoded %+v, want %s", back, p)
	}
	if off, err := back.Position.Int("offset"); err != nil || off != 9007199254740993 {
		t.Fatalf("offset %d, %v: an integer above 2^53 must stay exact", off, err)
	}
}

func TestPositionRejectsWhatIsNotExact(t *testing.T) {
	for in, want := range map[string]string{
		`{"offset":1.5}`:                 `field "offset": 1.5 is not a 64-bit integer`,
		`{"offset":1e3}`:                 `field "offset": 1e3 is not a 64-bit integer`,
		`{"offset":9223372036854775808}`: `field "offset": 9223372036854775808 is not a 64-bit integer`,
		`{"offset":true}`:                `field "offset": want an integer or a string`,
		`"12"`:                           `want a JSON object`,
	} {
		var p Position
		err := json.Unmarshal([]byte(in), &p)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error containing %q", in, err, want)
		}
	}
}

func TestPositionFields(t *testing.T) {
	p := IntPosition("offset", 3).WithString("head", "x")
	q := p.WithInt("extra", 1)
	if p.Has("extra") || !q.Has("extra") || p.Equal(q) {
		t.Fatal("WithInt changed the position it was called on")
	}
	if _, err := p.Str("offset"); err == nil || err.Error() != `position {"offset":3,"head":"x"}: field "offset" is an integer, not a string` {
		t.Fatalf("Str of an integer: %v", err)
	}
	if _, err := p.Int("nope"); err == nil || err.Error() != `position {"offset":3,"head":"x"} has no field "nope"` {
		t.Fatalf("Int of a missing field: %v", err)
	}
	if !(Position{}).IsZero() || p.IsZero() {
		t.Fatal("IsZero")
	}
}
