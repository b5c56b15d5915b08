package aggregate

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/pipelinehq/pipeline/engine"
)

// States are stored in a compact binary form: encoding them is on the commit
// path of every changed key. Per operation a flags byte says which fields
// follow; counts and times are varints, sums 8 bytes, values and lists JSON.

const stateFormat = 1

const (
	hasN = 1 << iota
	hasF
	hasV
	hasT
	hasL
	hasI      // the exact sum of integers
	hasFloats // a float was summed (no payload)
)

func appendStates(buf []byte, states []opState) []byte {
	buf = append(buf, stateFormat)
	for i := range states {
		st := &states[i]
		var flags byte
		if st.N != 0 {
			flags |= hasN
		}
		if st.F != 0 {
			flags |= hasF
		}
		if st.S {
			flags |= hasV
		}
		if st.T != 0 {
			flags |= hasT
		}
		if st.L != nil {
			flags |= hasL
		}
		if st.I != 0 {
			flags |= hasI
		}
		if st.Floats {
			flags |= hasFloats
		}
		buf = append(buf, flags)
		if flags&hasN != 0 {
			buf = binary.AppendVarint(buf, st.N)
		}
		if flags&hasF != 0 {
			buf = binary.BigEndian.AppendUint64(buf, math.Float64bits(st.F))
		}
		if flags&hasV != 0 {
			buf = appendJSON(buf, st.V)
		}
		if flags&hasT != 0 {
			buf = binary.AppendVarint(buf, st.T)
		}
		if flags&hasL != 0 {
			buf = appendJSON(buf, st.L)
		}
		if flags&hasI != 0 {
			buf = binary.AppendVarint(buf, st.I)
		}
	}
	return buf
}

func appendJSON(buf []byte, v any) []byte {
	enc, err := json.Marshal(v)
	if err != nil {
		enc = []byte("null")
	}
	buf = binary.AppendUvarint(buf, uint64(len(enc)))
	return append(buf, enc...)
}

var errCorrupt = errors.New("aggregate state is corrupt")

func decodeStates(raw []byte) ([]opState, error) {
	if len(raw) == 0 || raw[0] != stateFormat {
		return nil, fmt.Errorf("%w: unknown format", errCorrupt)
	}
	var states []opState
	for p := raw[1:]; len(p) > 0; {
		var st opState
		flags := p[0]
		p = p[1:]
		var n int
		if flags&hasN != 0 {
			if st.N, n = binary.Varint(p); n <= 0 {
				return nil, errCorrupt
			}
			p = p[n:]
		}
		if flags&hasF != 0 {
			if len(p) < 8 {
				return nil, errCorrupt
			}
			st.F = math.Float64frombits(binary.BigEndian.Uint64(p))
			p = p[8:]
		}
		if flags&hasV != 0 {
			var err error
			if p, st.V, err = readJSON(p); err != nil {
				return nil, err
			}
			st.S = true
		}
		if flags&hasT != 0 {
			if st.T, n = binary.Varint(p); n <= 0 {
				return nil, errCorrupt
			}
			p = p[n:]
		}
		if flags&hasL != 0 {
			var err error
			p, st.L, err = readList(p)
			if err != nil {
				return nil, err
			}
		}
		if flags&hasI != 0 {
			if st.I, n = binary.Varint(p); n <= 0 {
				return nil, errCorrupt
			}
			p = p[n:]
		}
		st.Floats = flags&hasFloats != 0
		states = append(states, st)
	}
	return states, nil
}

// readJSON reads a value as engine decodes record values, so that numbers
// come back exactly as they went in (an integer stays an integer).
func readJSON(p []byte) (rest []byte, v any, err error) {
	size, n := binary.Uvarint(p)
	if n <= 0 || uint64(len(p)-n) < size {
		return nil, nil, errCorrupt
	}
	if v, err = engine.DecodeJSON(p[n : n+int(size)]); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	return p[n+int(size):], v, nil
}

func readList(p []byte) ([]byte, []any, error) {
	rest, v, err := readJSON(p)
	if err != nil {
		return nil, nil, err
	}
	l, ok := v.([]any)
	if !ok && v != nil {
		return nil, nil, fmt.Errorf("%w: a list holds %T", errCorrupt, v)
	}
	return rest, l, nil
}

// appendKey appends the state key of a grouping value: its JSON text, so
// that a key keeps its type in results (a number stays a number).
func appendKey(buf []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case string:
		return engine.AppendJSONString(buf, []byte(x)), nil
	case int:
		return strconv.AppendInt(buf, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(buf, x, 10), nil
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return strconv.AppendInt(buf, int64(x), 10), nil
		}
	}
	enc, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("key: %T cannot be a grouping key: %v", v, err)
	}
	return append(buf, enc...), nil
}
