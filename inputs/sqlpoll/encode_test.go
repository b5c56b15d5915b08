package sqlpoll

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/pipelinehq/pipeline/engine"
)

// A row is written as the very bytes encoding the map of it writes: names
// sorted, HTML characters escaped, every kind of value a mapping makes.
func TestRowEncodingIsTheMapsEncoding(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	names := []string{"id", "Name", "a<b", "é", "z&y", "amount", "_", "created_at", "\u2028", "AB", "ab"}
	values := func() any {
		switch rnd.IntN(9) {
		case 0:
			return nil
		case 1:
			return rnd.Int64() - math.MaxInt64/2
		case 2:
			return rnd.Float64() * 1e6
		case 3:
			return "text <&> \"quoted\" \n é 漢 \x01"
		case 4:
			return rnd.IntN(2) == 1
		case 5:
			return json.Number("12345678901234567890.123")
		case 6:
			return map[string]any{"k": int64(1), "<": []any{"x", nil}}
		case 7:
			return float32(0.1)
		}
		return strconv.Itoa(rnd.IntN(1000))
	}
	for round := 0; round < 500; round++ {
		r := &rowReader{names: names[:1+rnd.IntN(len(names))]}
		if err := r.prepareEncoding(); err != nil {
			t.Fatal(err)
		}
		row := map[string]any{}
		for i, n := range r.names {
			r.converted[i] = values()
			row[n] = r.converted[i]
		}
		got, err := r.encode().Bytes()
		if err != nil {
			t.Fatal(err)
		}
		want, err := engine.EncodeJSON("value", row)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("row written as\n%s\nits map as\n%s", got, want)
		}
	}
}

// A value JSON cannot hold leaves the record a map, so that the output
// rejects it alone, naming the column.
func TestRowWithNaNIsLeftToTheOutput(t *testing.T) {
	r := &rowReader{names: []string{"id", "ratio"}}
	if err := r.prepareEncoding(); err != nil {
		t.Fatal(err)
	}
	r.converted[0], r.converted[1] = int64(7), math.NaN()
	rec := r.encode()
	v, err := rec.Value()
	if m, ok := v.(map[string]any); err != nil || !ok || m["id"] != int64(7) {
		t.Fatalf("value %#v, %v: want the row as a map", v, err)
	}
	_, err = rec.Bytes()
	var ue *engine.UnencodableError
	if !errors.As(err, &ue) || ue.Path != "value.ratio" {
		t.Fatalf("Bytes: %v, want the unencodable column named", err)
	}
}
