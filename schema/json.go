package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
)

// object is a JSON object whose keys keep the order they were set in, so
// that the generated file reads in spec order and never changes by itself.
type object struct {
	keys []string
	vals map[string]any
}

func newObject() *object { return &object{vals: map[string]any{}} }

// set adds or replaces a key; a replaced key keeps its place.
func (o *object) set(key string, v any) *object {
	if _, ok := o.vals[key]; !ok {
		o.keys = append(o.keys, key)
	}
	o.vals[key] = v
	return o
}

func (o *object) get(key string) (any, bool) {
	v, ok := o.vals[key]
	return v, ok
}

// writeJSON writes v indented by two spaces per level, without HTML
// escaping. v is built from *object, []any, and values encoding/json
// marshals (maps are written with sorted keys).
func writeJSON(buf *bytes.Buffer, v any, depth int) error {
	newline := func(d int) {
		buf.WriteByte('\n')
		for i := 0; i < d; i++ {
			buf.WriteString("  ")
		}
	}
	switch v := v.(type) {
	case *object:
		if len(v.keys) == 0 {
			buf.WriteString("{}")
			return nil
		}
		buf.WriteByte('{')
		for i, k := range v.keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			newline(depth + 1)
			if err := writeScalar(buf, k); err != nil {
				return err
			}
			buf.WriteString(": ")
			if err := writeJSON(buf, v.vals[k], depth+1); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
		}
		newline(depth)
		buf.WriteByte('}')
	case map[string]any:
		o := newObject()
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			o.set(k, v[k])
		}
		return writeJSON(buf, o, depth)
	case []any:
		if len(v) == 0 {
			buf.WriteString("[]")
			return nil
		}
		buf.WriteByte('[')
		for i, item := range v {
			if i > 0 {
				buf.WriteByte(',')
			}
			newline(depth + 1)
			if err := writeJSON(buf, item, depth+1); err != nil {
				return err
			}
		}
		newline(depth)
		buf.WriteByte(']')
	case []string:
		items := make([]any, len(v))
		for i, s := range v {
			items[i] = s
		}
		return writeJSON(buf, items, depth)
	default:
		return writeScalar(buf, v)
	}
	return nil
}

func writeScalar(buf *bytes.Buffer, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	out := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	if len(out) > 0 && (out[0] == '{' || out[0] == '[') && !bytes.Equal(out, []byte("{}")) && !bytes.Equal(out, []byte("[]")) {
		return fmt.Errorf("cannot write %T as a scalar", v)
	}
	buf.Write(out)
	return nil
}
