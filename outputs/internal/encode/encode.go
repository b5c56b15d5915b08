package encode

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
)

// Codecs.
const (
	Lines     = "lines"
	JSONLines = "json_lines"
	Envelope  = "envelope"
)

// maxKeptBuffer is the largest buffer an encoder keeps between batches.
const maxKeptBuffer = 8 << 20

// CodecField is the codec field of the outputs that use this package.
func CodecField() config.Field {
	return config.String("codec", "How each record is written, one per line. "+
		"lines: the value's bytes (text as is, structured values as JSON). "+
		"json_lines: the value as a JSON document (text becomes a JSON string). "+
		"envelope: a JSON object with key (a string or null), value (as in json_lines; null for a tombstone), op and before for a record that stands for a change of a row (omitted otherwise), headers (an object, omitted when there are none) and timestamp (milliseconds); it shows a dead-letter record's error headers. "+
		"A tombstone is an empty line under lines and null under json_lines.").
		Default(Lines).Enum(Lines, JSONLines, Envelope).Example(JSONLines, Envelope)
}

// Encoder encodes batches of records with one codec into a buffer it reuses.
// It is not safe for concurrent use.
type Encoder struct {
	codec string
	buf   []byte
}

// New returns an encoder for a codec: one of Lines, JSONLines, Envelope.
func New(codec string) (*Encoder, error) {
	switch codec {
	case Lines, JSONLines, Envelope:
		return &Encoder{codec: codec}, nil
	}
	return nil, fmt.Errorf("unknown codec %q", codec)
}

// Encode returns the records encoded, one line each. The bytes are valid
// until the next call. A record that cannot be encoded (a value holding
// NaN) is left out and named in the *engine.RecordsRejected returned with
// the lines of the others.
func (e *Encoder) Encode(records []*engine.Record) ([]byte, error) {
	if cap(e.buf) > maxKeptBuffer {
		e.buf = nil
	}
	buf := e.buf[:0]
	var rejected *engine.RecordsRejected // allocated only when needed: the hot path allocates nothing
	for i, r := range records {
		line := len(buf)
		var err error
		switch e.codec {
		case Lines:
			var b []byte
			if b, err = r.Bytes(); err == nil {
				buf = append(buf, b...)
			}
		case JSONLines:
			buf, err = appendValue(buf, r, false)
		case Envelope:
			buf, err = appendEnvelope(buf, r)
		}
		if err != nil {
			buf = buf[:line]
			if rejected == nil {
				rejected = &engine.RecordsRejected{}
			}
			rejected.Reject(i, err)
			continue
		}
		buf = append(buf, '\n')
	}
	e.buf = buf
	return buf, rejected.OrNil()
}

// appendValue appends the value as one line of JSON: JSON values as they are
// (compacted when they span lines), text as a JSON string. A value held as
// JSON bytes that is not valid JSON is written as a string when validate is
// set, or when it spans lines; otherwise it is copied unchecked (the hot path).
func appendValue(buf []byte, r *engine.Record, validate bool) ([]byte, error) {
	if r.IsTombstone() {
		return append(buf, "null"...), nil
	}
	b, err := r.Bytes()
	if err != nil {
		return buf, err
	}
	if !r.IsJSON() || (validate && !json.Valid(b)) {
		return engine.AppendJSONString(buf, b), nil
	}
	if len(b) == 0 {
		return append(buf, "null"...), nil
	}
	if bytes.IndexByte(b, '\n') >= 0 {
		out := bytes.NewBuffer(buf)
		if err := json.Compact(out, b); err != nil {
			// Not JSON after all: keep the line a line, and the data.
			return engine.AppendJSONString(buf, b), nil
		}
		return out.Bytes(), nil
	}
	return append(buf, b...), nil
}

func appendEnvelope(buf []byte, r *engine.Record) ([]byte, error) {
	buf = append(buf, `{"key":`...)
	if r.Key == nil {
		buf = append(buf, "null"...)
	} else {
		buf = engine.AppendJSONString(buf, r.Key)
	}
	buf = append(buf, `,"value":`...)
	buf, err := appendValue(buf, r, true)
	if err != nil {
		return buf, err
	}
	if r.Op != engine.OpNone {
		buf = append(buf, `,"op":"`...)
		buf = append(buf, r.Op.String()...)
		buf = append(buf, '"')
	}
	if r.Before != nil {
		before, err := engine.EncodeJSON("before", r.Before)
		if err != nil {
			return buf, err
		}
		buf = append(append(buf, `,"before":`...), before...)
	}
	if len(r.Headers) > 0 {
		buf = append(buf, `,"headers":{`...)
		first := true
		for i, h := range r.Headers {
			if repeatedLater(r.Headers, i) {
				continue // a repeated key shows its last value
			}
			if !first {
				buf = append(buf, ',')
			}
			first = false
			buf = engine.AppendJSONString(buf, []byte(h.Key))
			buf = append(buf, ':')
			buf = engine.AppendJSONString(buf, h.Value)
		}
		buf = append(buf, '}')
	}
	buf = append(buf, `,"timestamp":`...)
	buf = strconv.AppendInt(buf, r.Timestamp, 10)
	return append(buf, '}'), nil
}

func repeatedLater(hs []engine.Header, i int) bool {
	for _, h := range hs[i+1:] {
		if h.Key == hs[i].Key {
			return true
		}
	}
	return false
}
