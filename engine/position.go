package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Position is where an input stands in one of its partitions: the place to
// resume from once everything before it was handled. It is a short list of
// named fields, most significant first, each an integer or a string: a byte
// offset with the fingerprint of the file it belongs to, a Kafka offset, the
// columns of an SQL cursor, an LSN. Inputs make and read their own
// positions; the engine tracks, stores and hands them back, and never
// changes one: it is stored as a JSON object whose integers are exact.
type Position struct {
	fields []positionField
}

type positionField struct {
	name  string
	num   int64
	str   string
	isStr bool
}

// IntPosition is a position of one integer field, such as {"offset": 42}.
func IntPosition(name string, v int64) Position { return Position{}.WithInt(name, v) }

// WithInt returns p with an integer field added after its others.
func (p Position) WithInt(name string, v int64) Position {
	return p.with(positionField{name: name, num: v})
}

// WithString returns p with a string field added after its others.
func (p Position) WithString(name, v string) Position {
	return p.with(positionField{name: name, str: v, isStr: true})
}

func (p Position) with(f positionField) Position {
	// A full slice expression: the result never shares a later append
	// with p.
	return Position{fields: append(p.fields[:len(p.fields):len(p.fields)], f)}
}

// Int is the integer field name.
func (p Position) Int(name string) (int64, error) {
	f, err := p.field(name)
	if err != nil {
		return 0, err
	}
	if f.isStr {
		return 0, fmt.Errorf("position %s: field %q is a string, not an integer", p, name)
	}
	return f.num, nil
}

// Str is the string field name.
func (p Position) Str(name string) (string, error) {
	f, err := p.field(name)
	if err != nil {
		return "", err
	}
	if !f.isStr {
		return "", fmt.Errorf("position %s: field %q is an integer, not a string", p, name)
	}
	return f.str, nil
}

// Has reports whether p has a field name.
func (p Position) Has(name string) bool {
	_, err := p.field(name)
	return err == nil
}

func (p Position) field(name string) (positionField, error) {
	for _, f := range p.fields {
		if f.name == name {
			return f, nil
		}
	}
	return positionField{}, fmt.Errorf("position %s has no field %q", p, name)
}

// IsZero reports whether p has no fields: no position.
func (p Position) IsZero() bool { return len(p.fields) == 0 }

// Equal reports whether p and q have the same fields with the same values,
// in the same order.
func (p Position) Equal(q Position) bool {
	if len(p.fields) != len(q.fields) {
		return false
	}
	for i, f := range p.fields {
		if f != q.fields[i] {
			return false
		}
	}
	return true
}

// String is the position as JSON, for logs and errors.
func (p Position) String() string {
	b, _ := p.MarshalJSON()
	return string(b)
}

// MarshalJSON writes the fields as one JSON object, in order.
func (p Position) MarshalJSON() ([]byte, error) {
	buf := []byte{'{'}
	for i, f := range p.fields {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = AppendJSONString(buf, []byte(f.name))
		buf = append(buf, ':')
		if f.isStr {
			buf = AppendJSONString(buf, []byte(f.str))
		} else {
			buf = strconv.AppendInt(buf, f.num, 10)
		}
	}
	return append(buf, '}'), nil
}

// UnmarshalJSON reads what MarshalJSON wrote. A number that is not an
// integer in int64's range is an error, never a rounded value.
func (p *Position) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("position %s: want a JSON object", b)
	}
	var fields []positionField
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return fmt.Errorf("position %s: %w", b, err)
		}
		f := positionField{name: t.(string)}
		t, err = dec.Token()
		if err != nil {
			return fmt.Errorf("position %s: %w", b, err)
		}
		switch v := t.(type) {
		case string:
			f.str, f.isStr = v, true
		case json.Number:
			if f.num, err = strconv.ParseInt(string(v), 10, 64); err != nil {
				return fmt.Errorf("position %s: field %q: %s is not a 64-bit integer", b, f.name, v)
			}
		default:
			return fmt.Errorf("position %s: field %q: want an integer or a string", b, f.name)
		}
		fields = append(fields, f)
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("position %s: %w", b, err)
	}
	if dec.More() {
		return errors.New("position: trailing data after the object")
	}
	p.fields = fields
	return nil
}

// Checkpoint is a partition's position up to which everything was handled.
type Checkpoint struct {
	Partition string   `json:"partition"`
	Position  Position `json:"position"`
}
