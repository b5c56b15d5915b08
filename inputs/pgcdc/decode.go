package pgcdc

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/pipelinehq/pipeline/internal/sqldb"
)

// column is a captured column and how its text becomes a record value.
type column struct {
	name    string
	convert func(text []byte) (any, error)
}

// converters turns PostgreSQL's text form of a value (what pgoutput sends,
// and what the snapshot reads) into a record value, with sql_poll's
// mapping: the README's "Change data capture" section lists it.
type converters struct {
	types   *pgtype.Map
	mapping sqldb.Mapping
}

func newConverters(m sqldb.Mapping) *converters {
	return &converters{types: pgtype.NewMap(), mapping: m}
}

// forType returns the conversion of a column of type oid.
func (c *converters) forType(oid uint32) func([]byte) (any, error) {
	typ, ok := c.types.TypeForOID(oid)
	if !ok {
		// An enum, a domain, an extension's type: its text.
		return textValue
	}
	switch typ.Name {
	case "bool":
		return boolValue
	case "int2", "int4", "int8", "oid", "xid":
		return intValue
	case "float4", "float8":
		return floatValue
	case "numeric":
		conv := c.mapping.Converter("NUMERIC")
		return func(b []byte) (any, error) { return conv(string(b)) }
	case "date":
		return textValue // already ISO 8601: 2026-12-03
	case "timestamp", "timestamptz":
		conv := c.mapping.Converter("TIMESTAMPTZ")
		return func(b []byte) (any, error) {
			t, err := c.decodeTime(oid, b)
			if err != nil || t == nil {
				return textValue(b) // infinity, -infinity
			}
			return conv(*t)
		}
	case "json", "jsonb":
		conv := c.mapping.Converter("JSONB")
		return func(b []byte) (any, error) { return conv(string(b)) }
	case "bytea":
		return func(b []byte) (any, error) {
			v, err := c.decode(oid, b)
			if err != nil {
				return nil, err
			}
			return base64.StdEncoding.EncodeToString(v.([]byte)), nil
		}
	}
	if _, isArray := typ.Codec.(*pgtype.ArrayCodec); isArray {
		return func(b []byte) (any, error) {
			v, err := c.decode(oid, b)
			if err != nil {
				return nil, err
			}
			return plain(v)
		}
	}
	return textValue
}

func (c *converters) decodeTime(oid uint32, b []byte) (*time.Time, error) {
	v, err := c.decode(oid, b)
	if err != nil {
		return nil, err
	}
	t, ok := v.(time.Time)
	if !ok {
		return nil, nil
	}
	return &t, nil
}

func (c *converters) decode(oid uint32, b []byte) (any, error) {
	typ, ok := c.types.TypeForOID(oid)
	if !ok {
		return string(b), nil
	}
	return typ.Codec.DecodeValue(c.types, oid, pgtype.TextFormatCode, b)
}

func textValue(b []byte) (any, error) { return string(b), nil }

func boolValue(b []byte) (any, error) {
	switch string(b) {
	case "t":
		return true, nil
	case "f":
		return false, nil
	}
	return nil, fmt.Errorf("boolean column holds %q", b)
}

func intValue(b []byte) (any, error) {
	i, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("integer column holds %q", b)
	}
	return i, nil
}

// floatValue keeps the shortest digits PostgreSQL printed: a float4's
// 0.1 stays 0.1. NaN and ±Infinity stay, and a JSON output refuses them
// record by record.
func floatValue(b []byte) (any, error) {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return nil, fmt.Errorf("float column holds %q", b)
	}
	return f, nil
}

// plain turns a value pgtype decoded (an array's elements) into a record
// value.
func plain(v any) (any, error) {
	switch x := v.(type) {
	case nil, string, bool, int64, float64:
		return x, nil
	case int16:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case float32:
		return strconv.ParseFloat(strconv.FormatFloat(float64(x), 'g', -1, 32), 64)
	case []byte:
		return base64.StdEncoding.EncodeToString(x), nil
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano), nil
	case pgtype.Numeric:
		return numericText(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			p, err := plain(e)
			if err != nil {
				return nil, err
			}
			out[i] = p
		}
		return out, nil
	case fmt.Stringer:
		return x.String(), nil
	}
	return fmt.Sprint(v), nil
}

// numericText is a numeric array element's digits, as the database wrote
// them.
func numericText(n pgtype.Numeric) (any, error) {
	v, err := n.Value()
	if err != nil || v == nil {
		return nil, err
	}
	return v, nil
}
