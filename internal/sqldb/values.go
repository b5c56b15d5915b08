package sqldb

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pipelinehq/pipeline/engine"
)

// NumericMapping says how DECIMAL and NUMERIC values become record values.
type NumericMapping string

const (
	// NumericString keeps the database's text: "19.90".
	NumericString NumericMapping = "string"
	// NumericNumber makes a JSON number of the same digits: 19.90, written
	// back exactly as the database gave it.
	NumericNumber NumericMapping = "number"
)

// TimeFormat says how timestamps become record values.
type TimeFormat string

const (
	// TimeRFC3339 is an RFC 3339 string in UTC, with the column's
	// fractional seconds: "2026-12-02T10:00:00.123456Z".
	TimeRFC3339 TimeFormat = "rfc3339"
	// TimeEpochMillis is integer milliseconds since the Unix epoch, as
	// Kafka Connect's Timestamp; finer digits are cut.
	TimeEpochMillis TimeFormat = "epoch_ms"
)

// Mapping turns column values, as the drivers return them, into record
// values. The mapping of each type is in the README's "Databases" section.
type Mapping struct {
	Numeric NumericMapping
	Time    TimeFormat
}

// Converter returns the conversion of a column of the given database type
// name (database/sql's DatabaseTypeName: "NUMERIC", "TIMESTAMPTZ",
// "UNSIGNED BIGINT", "VARBINARY"). The conversion of NULL is nil.
func (m Mapping) Converter(typeName string) func(any) (any, error) {
	t := strings.ToUpper(typeName)
	switch {
	case t == "NUMERIC" || t == "DECIMAL":
		return m.numeric
	case t == "FLOAT4" || t == "FLOAT":
		return float32Value
	case t == "DATE":
		return dateValue
	case strings.HasPrefix(t, "TIMESTAMP") || t == "DATETIME":
		return m.timestamp
	case t == "JSON" || t == "JSONB":
		return jsonValue
	case t == "BYTEA" || t == "BLOB" || t == "TINYBLOB" || t == "MEDIUMBLOB" || t == "LONGBLOB" ||
		t == "BINARY" || t == "VARBINARY" || t == "BIT" || t == "GEOMETRY":
		return bytesValue
	case isIntegerName(t):
		return integerValue
	}
	return plainValue
}

func isIntegerName(t string) bool {
	t = strings.TrimPrefix(t, "UNSIGNED ")
	switch t {
	case "INT2", "INT4", "INT8", "SMALLINT", "INTEGER", "INT", "BIGINT", "TINYINT", "MEDIUMINT", "YEAR":
		return true
	}
	return false
}

func text(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case []byte:
		return string(x), true
	}
	return "", false
}

func (m Mapping) numeric(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	s, ok := text(v)
	if !ok {
		// A driver that parsed the number itself (an integer-valued
		// DECIMAL read by the text protocol, say).
		return plainValue(v)
	}
	if m.Numeric == NumericNumber {
		if _, err := strconv.ParseFloat(s, 64); err != nil && !isRangeError(err) {
			return nil, fmt.Errorf("%s is not a JSON number (numeric_mapping: string keeps it)", s)
		}
		return json.Number(s), nil
	}
	return s, nil
}

func isRangeError(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

func integerValue(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case int64:
		return x, nil
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), nil
		}
		return json.Number(strconv.FormatUint(x, 10)), nil
	}
	s, ok := text(v)
	if !ok {
		return plainValue(v)
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i, nil
	}
	if _, err := strconv.ParseUint(s, 10, 64); err == nil {
		return json.Number(s), nil
	}
	return nil, fmt.Errorf("integer column holds %q", s)
}

// float32Value gives a single-precision float the value its shortest
// decimal form has (0.1, not 0.10000000149011612).
func float32Value(v any) (any, error) {
	var f float32
	switch x := v.(type) {
	case nil:
		return nil, nil
	case float32:
		f = x
	case float64:
		f = float32(x)
	default:
		s, ok := text(v)
		if !ok {
			return plainValue(v)
		}
		p, err := strconv.ParseFloat(s, 32)
		if err != nil {
			return nil, fmt.Errorf("float column holds %q", s)
		}
		f = float32(p)
	}
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return float64(f), nil
	}
	short := strconv.FormatFloat(float64(f), 'g', -1, 32)
	d, _ := strconv.ParseFloat(short, 64)
	return d, nil
}

func dateValue(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case time.Time:
		if x.IsZero() {
			return nil, nil // MySQL's zero date
		}
		return x.Format(time.DateOnly), nil
	}
	return plainValue(v)
}

func (m Mapping) timestamp(v any) (any, error) {
	t, ok := v.(time.Time)
	if !ok {
		return plainValue(v)
	}
	if t.IsZero() {
		return nil, nil // MySQL's zero datetime
	}
	if m.Time == TimeEpochMillis {
		return t.UnixMilli(), nil
	}
	return t.UTC().Format(time.RFC3339Nano), nil
}

func jsonValue(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	s, ok := text(v)
	if !ok {
		return plainValue(v)
	}
	return engine.DecodeJSON([]byte(s))
}

func bytesValue(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []byte:
		return base64.StdEncoding.EncodeToString(x), nil
	case string:
		return base64.StdEncoding.EncodeToString([]byte(x)), nil
	}
	return plainValue(v)
}

// plainValue is every other type: text stays text, numbers and booleans
// stay what they are.
func plainValue(v any) (any, error) {
	switch x := v.(type) {
	case nil, string, bool, int64, float64:
		return x, nil
	case []byte:
		if !utf8.Valid(x) {
			return base64.StdEncoding.EncodeToString(x), nil
		}
		return string(x), nil
	case float32:
		return float32Value(x)
	case uint64:
		return integerValue(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano), nil
	}
	return nil, fmt.Errorf("unexpected %T from the driver", v)
}

// CursorTime reads a timestamp cursor column's value.
func CursorTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x, nil
	case nil:
		return time.Time{}, fmt.Errorf("is NULL")
	}
	return time.Time{}, fmt.Errorf("is %T, not a timestamp", v)
}

// CursorInt reads an incrementing cursor column's value.
func CursorInt(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), nil
		}
		return 0, fmt.Errorf("is %d, beyond the 64-bit signed range of positions", x)
	case nil:
		return 0, fmt.Errorf("is NULL")
	}
	if s, ok := text(v); ok {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, nil
		}
		return 0, fmt.Errorf("is %q, not a 64-bit integer", s)
	}
	return 0, fmt.Errorf("is %T, not an integer", v)
}
