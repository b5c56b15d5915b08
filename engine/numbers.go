package engine

import (
	"encoding/json"
	"math"
	"strconv"
)

// exactNumbers replaces the json.Number literals of a decoded value by the
// Go values that hold them exactly.
func exactNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		return exactNumber(x)
	case map[string]any:
		for k, e := range x {
			x[k] = exactNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = exactNumbers(e)
		}
	}
	return v
}

// exactNumber is the value of a JSON number literal, held so that nothing
// of it is lost:
//
//   - an integer within int64 (1, 1.0, 1e3, -9223372036854775808) is an
//     int64, so that integer arithmetic (`%`, exact sums) works on it;
//   - -0 is the float64 negative zero, which is written back as -0;
//   - any other number is a float64 when that float is the number written
//     (0.1, 2.5e-8, 1e300): its shortest decimal form has the same value;
//   - anything else (9223372036854775808, 1e400, 0.1000000000000000000001)
//     stays the json.Number literal, which is written back as it was read.
//
// The value of a number is thus never changed; the spelling of a
// non-integer may be (1.50 is written 1.5, 1E-7 as 1e-7).
func exactNumber(lit json.Number) any {
	s := string(lit)
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		if i == 0 && s[0] == '-' {
			return math.Copysign(0, -1)
		}
		return i
	}
	written, ok := parseDecimal(s)
	if !ok {
		return lit
	}
	if written.digits() == 0 {
		if written.neg {
			return math.Copysign(0, -1)
		}
		return int64(0)
	}
	if i, ok := written.int64(); ok {
		return i
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return lit // beyond float64: ParseFloat gave ±Inf
	}
	var buf [32]byte
	shortest, _ := parseDecimal(string(strconv.AppendFloat(buf[:0], f, 'e', -1, 64)))
	if shortest.equal(written) {
		return f
	}
	return lit
}

// decimal is a number literal reduced to its value: sign, significant
// digits (the concatenation of hi and lo, without leading or trailing
// zeros) and the power of ten of the digit after the last one, so that
// value = ±digits × 10^scale.
type decimal struct {
	neg    bool
	hi, lo string
	scale  int
}

// parseDecimal reads a JSON number literal: -?int(.frac)?([eE][+-]?exp)?.
func parseDecimal(s string) (decimal, bool) {
	var d decimal
	if len(s) > 0 && s[0] == '-' {
		d.neg, s = true, s[1:]
	}
	intEnd := 0
	for intEnd < len(s) && isDigit(s[intEnd]) {
		intEnd++
	}
	whole, rest := s[:intEnd], s[intEnd:]
	var frac string
	if len(rest) > 0 && rest[0] == '.' {
		end := 1
		for end < len(rest) && isDigit(rest[end]) {
			end++
		}
		frac, rest = rest[1:end], rest[end:]
	}
	exp, expOK := 0, true
	if len(rest) > 0 && (rest[0] == 'e' || rest[0] == 'E') {
		e, err := strconv.Atoi(rest[1:])
		if err != nil && !isExponent(rest[1:]) {
			return d, false
		}
		exp, expOK, rest = e, err == nil, ""
	}
	if rest != "" || whole == "" {
		return d, false
	}
	d.scale = exp - len(frac)
	// Strip leading zeros (they may run from whole into frac) and trailing
	// zeros (from frac into whole, each raising the scale).
	d.hi, d.lo = trimLeft(whole), frac
	if d.hi == "" {
		d.lo = trimLeft(frac)
	}
	trimmed := trimRight(d.lo)
	d.scale += len(d.lo) - len(trimmed)
	d.lo = trimmed
	if d.lo == "" {
		trimmed = trimRight(d.hi)
		d.scale += len(d.hi) - len(trimmed)
		d.hi = trimmed
	}
	if d.digits() == 0 {
		d.scale = 0 // 0.00 and 0e99999999999999999999 are 0
		return d, true
	}
	return d, expOK // an exponent beyond int is beyond any float too
}

func (d decimal) digits() int { return len(d.hi) + len(d.lo) }

func (d decimal) digit(i int) byte {
	if i < len(d.hi) {
		return d.hi[i]
	}
	return d.lo[i-len(d.hi)]
}

func (d decimal) equal(o decimal) bool {
	if d.neg != o.neg || d.scale != o.scale || d.digits() != o.digits() {
		return false
	}
	for i := range d.digits() {
		if d.digit(i) != o.digit(i) {
			return false
		}
	}
	return true
}

// int64 is the decimal as an int64 when it is an integer in range.
func (d decimal) int64() (int64, bool) {
	if d.scale < 0 || d.digits()+d.scale > 19 {
		return 0, false
	}
	var u uint64
	for i := range d.digits() {
		u = u*10 + uint64(d.digit(i)-'0')
	}
	for range d.scale {
		u *= 10
	}
	switch {
	case !d.neg && u <= math.MaxInt64:
		return int64(u), true
	case d.neg && u <= 1<<63:
		return int64(-u), true
	}
	return 0, false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isExponent reports whether s is [+-]?digits.
func isExponent(s string) bool {
	if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	for i := range len(s) {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

func trimLeft(s string) string {
	for len(s) > 0 && s[0] == '0' {
		s = s[1:]
	}
	return s
}

func trimRight(s string) string {
	for len(s) > 0 && s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	return s
}
