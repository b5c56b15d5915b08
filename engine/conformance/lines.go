package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/pipelinehq/pipeline/engine"
)

// The codecs of the outputs that write a record per line (file, stdout):
// lines writes the value's bytes, json_lines the value as JSON, envelope a
// JSON object with key, value, headers and timestamp.
const (
	CodecLines     = "lines"
	CodecJSONLines = "json_lines"
	CodecEnvelope  = "envelope"
)

// LineTombstone is the value DecodeLines gives for a tombstone written with
// codec: an empty line under lines, null under json_lines, and no value
// (nil) under envelope, whose "value" is null.
func LineTombstone(codec string) []byte {
	switch codec {
	case CodecLines:
		return []byte{}
	case CodecJSONLines:
		return []byte("null")
	}
	return nil
}

// LineKeeps tells what a line codec keeps of a record besides its value:
// the envelope keeps keys, headers and timestamps, the others nothing.
func LineKeeps(codec string) (keys, headers, timestamps bool) {
	keep := codec == CodecEnvelope
	return keep, keep, keep
}

// DecodeLines reads back what an output wrote with a line codec: a record
// per line, its value the line (lines, json_lines), or what the envelope
// holds. It fails the test on data the codec cannot have written.
func DecodeLines(t testing.TB, codec string, data []byte) []Record {
	t.Helper()
	if len(data) == 0 {
		return nil
	}
	if data[len(data)-1] != '\n' {
		t.Fatalf("the output does not end with a line ending: %q", data)
	}
	lines := bytes.Split(data[:len(data)-1], []byte{'\n'})
	recs := make([]Record, len(lines))
	for i, line := range lines {
		switch codec {
		case CodecLines, CodecJSONLines:
			recs[i] = Record{Value: append([]byte{}, line...)}
		case CodecEnvelope:
			r, err := decodeEnvelope(line)
			if err != nil {
				t.Fatalf("line %d: %v: %s", i+1, err, line)
			}
			recs[i] = r
		default:
			t.Fatalf("conformance: DecodeLines knows no codec %q", codec)
		}
	}
	return recs
}

// decodeEnvelope reads one envelope line, keeping the order of its headers.
func decodeEnvelope(line []byte) (Record, error) {
	var env struct {
		Key       *string         `json:"key"`
		Value     json.RawMessage `json:"value"`
		Headers   json.RawMessage `json:"headers"`
		Timestamp int64           `json:"timestamp"`
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		return Record{}, err
	}
	r := Record{Timestamp: env.Timestamp}
	if env.Key != nil {
		r.Key = []byte(*env.Key)
	}
	if env.Value == nil {
		return Record{}, fmt.Errorf("no value")
	}
	if string(env.Value) != "null" {
		r.Value = []byte(env.Value)
	}
	if env.Headers != nil {
		hdec := json.NewDecoder(bytes.NewReader(env.Headers))
		if _, err := hdec.Token(); err != nil {
			return Record{}, err
		}
		for hdec.More() {
			k, err := hdec.Token()
			if err != nil {
				return Record{}, err
			}
			var v string
			if err := hdec.Decode(&v); err != nil {
				return Record{}, fmt.Errorf("header %v: %v", k, err)
			}
			r.Headers = append(r.Headers, engine.Header{Key: k.(string), Value: []byte(v)})
		}
	}
	return r, nil
}
