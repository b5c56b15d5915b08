package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
)

// DecodeJSON decodes JSON as expressions see it: objects as map[string]any,
// lists as []any, and every number as the value it was written as, never a
// rounded one (see exactNumber).
func DecodeJSON(data []byte) (any, error) {
	if v, ok := decodeTokens(data); ok {
		return v, nil
	}
	return decodeNumbersExactly(data)
}

func decodeNumbersExactly(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	if err != nil || !onlySpace(data[dec.InputOffset():]) {
		// The decoder says "unexpected EOF" where Unmarshal says "unexpected
		// end of JSON input", and stops after the first value; Unmarshal
		// reports either problem as users know it.
		var discard any
		if uerr := json.Unmarshal(data, &discard); uerr != nil {
			return nil, uerr
		}
		if err != nil {
			return nil, err
		}
	}
	return exactNumbers(v), nil
}

func onlySpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// UnencodableError is a value that JSON cannot hold (NaN, ±Inf, a
// function): a fault of the one record that holds it, never of the output
// that was to write it.
type UnencodableError struct {
	Path   string // where in the record: "value", "value.ratio", "before.items.2"
	Reason string // "NaN cannot be written as JSON"
}

func (e *UnencodableError) Error() string { return e.Path + ": " + e.Reason }

// EncodeJSON encodes a decoded value as JSON; json.Number literals are
// written as they are. A part JSON cannot hold is an *UnencodableError
// naming its path, which starts with root ("value", "before").
func EncodeJSON(root string, v any) ([]byte, error) {
	b, err := appendJSON(make([]byte, 0, 128), v)
	if err == nil {
		return b, nil
	}
	if ue := findUnencodable(root, v); ue != nil {
		return nil, ue
	}
	return nil, &UnencodableError{Path: root, Reason: "cannot be written as JSON: " + err.Error()}
}

// AppendJSON appends v encoded as EncodeJSON encodes it, for a component
// that writes a record's bytes itself; on an error b is not to be used, and
// EncodeJSON of the whole value says which part failed.
func AppendJSON(b []byte, v any) ([]byte, error) { return appendJSON(b, v) }

// findUnencodable looks for the first part of v (in the order JSON writes
// it: object keys sorted) that JSON cannot hold. It runs only once encoding
// failed, so it may be slow.
func findUnencodable(path string, v any) *UnencodableError {
	switch x := v.(type) {
	case float64:
		return nonFinite(path, x)
	case float32:
		return nonFinite(path, float64(x))
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if ue := findUnencodable(path+"."+k, x[k]); ue != nil {
				return ue
			}
		}
		return nil
	case []any:
		for i, e := range x {
			if ue := findUnencodable(path+"."+strconv.Itoa(i), e); ue != nil {
				return ue
			}
		}
		return nil
	}
	if _, err := json.Marshal(v); err != nil {
		return &UnencodableError{Path: path, Reason: fmt.Sprintf("%T cannot be written as JSON: %v", v, err)}
	}
	return nil
}

func nonFinite(path string, f float64) *UnencodableError {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return &UnencodableError{Path: path, Reason: strconv.FormatFloat(f, 'g', -1, 64) + " cannot be written as JSON"}
	}
	return nil
}
