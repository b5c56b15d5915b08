package sqldb

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/pipelinehq/pipeline/engine"
)

// Bind turns a record value into a parameter for column c, or says why
// the column cannot take it unchanged. Both servers round a number with
// more decimals than the column holds, and the drivers truncate a
// fraction bound to an integer column (pgx writes 1.5 into a bigint as
// 1): such values are refused here, so that no number is silently
// changed. Objects and lists are written as JSON text; RFC 3339 strings
// and integers (epoch milliseconds) to time columns as times.
func Bind(v any, c Column) (any, error) {
	switch x := v.(type) {
	case nil, bool, []byte, time.Time:
		return x, nil
	case string:
		return bindString(x, c)
	case json.Number:
		return bindNumber(string(x), c)
	case int64:
		return bindInt(x, c), nil
	case int:
		return bindInt(int64(x), c), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("column %s: %v is not a number a column can hold", c.Name, x)
		}
		return bindNumber(strconv.FormatFloat(x, 'g', -1, 64), c)
	case map[string]any, []any:
		b, err := engine.EncodeJSON(c.Name, x)
		if err != nil {
			return nil, err
		}
		return string(b), nil
	}
	if i, ok := engine.ToInt64(v); ok {
		return i, nil
	}
	return nil, fmt.Errorf("column %s: cannot write %s", c.Name, engine.DescribeValue(v))
}

// bindInt writes an integer to a time column as epoch milliseconds (a
// record's timestamp, Kafka Connect's Timestamp): MySQL would read
// 1767323045123 as a YYYYMMDDhhmmss number, PostgreSQL not at all.
func bindInt(i int64, c Column) any {
	if isTimeType(c.Type) && c.Type != "date" {
		return time.UnixMilli(i).UTC()
	}
	return i
}

func bindString(s string, c Column) (any, error) {
	if isTimeType(c.Type) && c.Type != "date" {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t.UTC(), nil
		}
	}
	if c.Scale >= 0 || isIntegerColumn(c) {
		if _, err := strconv.ParseFloat(s, 64); err == nil || isRangeError(err) {
			return bindNumber(s, c)
		}
	}
	return s, nil
}

// bindNumber passes a number as its decimal text, which both servers parse
// exactly into any numeric column, once it fits the column's scale.
func bindNumber(s string, c Column) (any, error) {
	frac := fractionDigits(s)
	switch {
	case isIntegerColumn(c) && frac > 0:
		return nil, fmt.Errorf("column %s is %s: %s is not an integer", c.Name, c.Type, s)
	case c.Scale >= 0 && frac > c.Scale:
		return nil, fmt.Errorf("column %s is %s with %d decimals: %s would be rounded", c.Name, c.Type, c.Scale, s)
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i, nil
	}
	return s, nil
}

// fractionDigits counts the significant digits after the point of a
// number's decimal text (1.50 has 1, 1e-3 has 3, 1.5e3 none).
func fractionDigits(s string) int {
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		e, err := strconv.Atoi(s[i+1:])
		if err != nil {
			return 0
		}
		exp = e
	}
	_, frac, _ := strings.Cut(mant, ".")
	frac = strings.TrimRight(frac, "0")
	return max(len(frac)-exp, 0)
}

func isIntegerColumn(c Column) bool { return IsIntegerType(c.Type) }
