package engine

import (
	"errors"
	"fmt"
)

// Stored values: a record's value as a stateful processor keeps it (a
// join's table row, a buffered stream record), its bytes as read with the
// format to read them by, so that JSON is decoded only when an expression
// needs it.

// Stored value formats, the first byte.
const (
	storedJSON   = 'j'
	storedText   = 't'
	storedBinary = 'b'
)

// StoredValue is a record's value as stored. A tombstone stores as its
// format alone, and loads as nil.
func StoredValue(r *Record) []byte {
	format := byte(storedJSON)
	if !r.IsJSON() {
		format = storedText
		if v, _ := r.Value(); v != nil {
			if _, isBytes := v.([]byte); isBytes {
				format = storedBinary
			}
		}
	}
	raw, err := r.Bytes()
	if err != nil { // not for a record as an input read it
		raw = nil
	}
	out := make([]byte, 0, 1+len(raw))
	return append(append(out, format), raw...)
}

// LoadStoredValue is a stored value as expressions see it.
func LoadStoredValue(stored []byte) (any, error) {
	if len(stored) > 1 && stored[0] == storedJSON {
		v, err := DecodeJSON(stored[1:])
		if err != nil {
			return nil, fmt.Errorf("value is not valid JSON: %v", err)
		}
		return v, nil
	}
	rec, err := StoredRecord(stored)
	if err != nil {
		return nil, err
	}
	return rec.Value()
}

// StoredRecord is a stored value as a record's value, not decoded yet.
func StoredRecord(stored []byte) (*Record, error) {
	if len(stored) == 0 {
		return nil, errors.New("empty stored value")
	}
	format := Text
	switch stored[0] {
	case storedJSON:
		format = JSON
	case storedBinary:
		format = Binary
	}
	var raw []byte
	if len(stored) > 1 {
		raw = stored[1:]
	}
	return NewRecord(raw, format), nil
}
