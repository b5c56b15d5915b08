package engine

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
)

// What processors share about the values expressions return: naming one in
// an error, and turning one into a record key or header text.

// DescribeValue names a value for an error message: its kind, and a
// number's value.
func DescribeValue(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case []byte:
		return "bytes"
	case bool:
		return "a boolean"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	if b, ok := NumberText(v); ok {
		return "the number " + string(b)
	}
	return fmt.Sprintf("a %T", v)
}

// KeyBytes converts a key expression's result to key bytes: text and bytes
// as they are, a number as its decimal text, nil as no key.
func KeyBytes(v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []byte(x), nil
	case []byte:
		return x, nil
	}
	if b, ok := NumberText(v); ok {
		return b, nil
	}
	return nil, fmt.Errorf("want a string, bytes or a number, got %s", DescribeValue(v))
}

// NumberText is a number's decimal text, without exponent (a number kept
// as its JSON literal, beyond int64 and float64, as it was written); false
// for what is not a finite number.
func NumberText(v any) ([]byte, bool) {
	switch x := v.(type) {
	case json.Number:
		return []byte(x), true
	case int:
		return strconv.AppendInt(nil, int64(x), 10), true
	case int64:
		return strconv.AppendInt(nil, x, 10), true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, false
		}
		return strconv.AppendFloat(nil, x, 'f', -1, 64), true
	case float32:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, false
		}
		return strconv.AppendFloat(nil, float64(x), 'f', -1, 32), true
	}
	rv := reflect.ValueOf(v)
	switch {
	case rv.CanInt():
		return strconv.AppendInt(nil, rv.Int(), 10), true
	case rv.CanUint():
		return strconv.AppendUint(nil, rv.Uint(), 10), true
	}
	return nil, false
}
