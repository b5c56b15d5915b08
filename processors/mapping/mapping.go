package mapping

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
)

// Plugin is the `map` processor.
func Plugin() engine.ProcessorPlugin {
	return engine.ProcessorPlugin{
		Spec: config.Spec{
			Name:    "map",
			Summary: "Rewrites a record's value, fields of its JSON object value, key, headers and timestamp with expressions.",
			Description: "Every expression sees the record as it was when the map began: all are evaluated first, " +
				"then applied in the order value, set, delete, key, headers, timestamp. " +
				"A record for which an expression fails, or whose value is not a JSON object when set or delete is given, " +
				"fails (it goes to the dead-letter output, or stops the pipeline, per on_error) and is left unchanged. " +
				"A tombstone (a record without a value) stays one under set and delete, and value sees it as nil; " +
				"a value set to nil makes the record a tombstone. " +
				"At least one field must be given.",
			Fields: []config.Field{
				config.Expr("value", "Replaces the whole value with the expression's result: a string stays text, anything else becomes JSON.").
					Example("lower(value)", `{"id": value.id, "total": value.price * value.qty}`),
				config.ExprMap("set", "Sets fields inside a JSON object value: each key is a dotted field path (`a.b.c`), each value an expression. "+
					"Missing or null intermediate fields become objects; an intermediate field that holds something else fails the record. "+
					"Applied in order, after value.").
					Example(map[string]any{"total": "value.price * value.qty", "meta.seen": "true"}),
				config.StringList("delete", "Dotted field paths to remove from a JSON object value, after set. A path that does not exist is ignored.").
					Example([]any{"tmp", "meta.debug"}),
				config.Expr("key", "The record's new key: a string or bytes as they are, a number as its decimal text; nil removes the key. Any other result fails the record.").
					Example("value.user_id", `key + "-" + string(value.region)`),
				config.ExprMap("headers", "Header name to expression. The result replaces every header of that name, as text "+
					"(numbers and booleans as their text, times as RFC 3339, lists and objects as JSON); nil removes the header.").
					Example(map[string]any{"content-type": `"application/json"`, "tenant": "value.tenant"}),
				config.Expr("timestamp", "The record's event time: integer milliseconds since the Unix epoch, a time, or an RFC 3339 string. Any other result fails the record.").
					Example("value.ts", `value.created_at`, `unix_ms(now())`),
			},
			Example: `pipeline:
  processors:
    - map: { value: 'lower(value)' }
    - map:
        set:
          total: 'value.price * value.qty'
          meta.seen: 'true'
        delete: [tmp]
        key: 'value.order_id'
        headers: { source: '"shop"' }
        timestamp: 'value.created_at'`,
		},
		New: newMap,
	}
}

type fieldPath struct {
	text string
	segs []string
}

type setter struct {
	path fieldPath
	expr *engine.Expr
}

type header struct {
	name string
	expr *engine.Expr
}

type mapper struct {
	value     *engine.Expr
	sets      []setter
	deletes   []fieldPath
	key       *engine.Expr
	headers   []header
	timestamp *engine.Expr
}

func newMap(conf *config.Parsed, _ *engine.Resources) (engine.Processor, error) {
	m := &mapper{}
	var errs config.Errors
	compile := func(src config.ExprSource) *engine.Expr {
		e, err := engine.CompileExpr(src, engine.AnyResult)
		if err != nil {
			errs = appendError(errs, conf, src.Path, err)
		}
		return e
	}
	if conf.Has("value") {
		m.value = compile(conf.Expr("value"))
	}
	for _, p := range conf.Map("set") {
		path, err := parsePath(p.Key)
		if err != nil {
			errs = append(errs, keyError(conf, "set", p.Key, err.Error()))
		}
		m.sets = append(m.sets, setter{path: path, expr: compile(p.Expr)})
	}
	for i, d := range conf.StringList("delete") {
		path, err := parsePath(d)
		if err != nil {
			errs = append(errs, itemError(conf, "delete", i, err.Error()))
		}
		m.deletes = append(m.deletes, path)
	}
	if conf.Has("key") {
		m.key = compile(conf.Expr("key"))
	}
	for _, p := range conf.Map("headers") {
		if p.Key == "" {
			errs = append(errs, keyError(conf, "headers", p.Key, "a header name must not be empty"))
		}
		m.headers = append(m.headers, header{name: p.Key, expr: compile(p.Expr)})
	}
	if conf.Has("timestamp") {
		m.timestamp = compile(conf.Expr("timestamp"))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if m.value == nil && len(m.sets) == 0 && len(m.deletes) == 0 && m.key == nil && len(m.headers) == 0 && m.timestamp == nil {
		// Positioned at the map by the engine.
		return nil, errors.New("nothing to do: give at least one of value, set, delete, key, headers, timestamp")
	}
	return m, nil
}

// appendError adds a compile error, which CompileExpr already positions.
func appendError(errs config.Errors, conf *config.Parsed, path string, err error) config.Errors {
	var ce *config.Error
	if errors.As(err, &ce) {
		return append(errs, ce)
	}
	return append(errs, &config.Error{Pos: config.Pos{File: conf.File()}, Path: path, Msg: err.Error()})
}

// keyError is an error located at a key of a mapping field.
func keyError(conf *config.Parsed, field, key, msg string) *config.Error {
	e := conf.Errorf(field, "%s", msg)
	e.Path = config.JoinPath(conf.FieldPath(field), key)
	if n := conf.Node(field); n != nil {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				e.Pos.Line, e.Pos.Col = n.Content[i].Line, n.Content[i].Column
				break
			}
		}
	}
	return e
}

// itemError is an error located at an item of a list field.
func itemError(conf *config.Parsed, field string, i int, msg string) *config.Error {
	e := conf.Errorf(field, "%s", msg)
	e.Path = config.JoinPath(conf.FieldPath(field), strconv.Itoa(i))
	if n := conf.Node(field); n != nil && i < len(n.Content) {
		e.Pos.Line, e.Pos.Col = n.Content[i].Line, n.Content[i].Column
	}
	return e
}

func parsePath(text string) (fieldPath, error) {
	segs := strings.Split(text, ".")
	for _, s := range segs {
		if s == "" {
			return fieldPath{}, fmt.Errorf("field path %q has an empty segment: write names separated by single dots, such as meta.seen", text)
		}
	}
	return fieldPath{text: text, segs: segs}, nil
}

// scratch holds one record's results between evaluating and applying. One
// is made per batch, so records cost no allocation for it.
type scratch struct {
	sets    []any
	headers [][]byte // nil: remove the header
	fresh   []uintptr
}

// Process applies the map to every record; records it fails on leave the batch.
func (m *mapper) Process(_ context.Context, b *engine.Batch) error {
	var st scratch
	if len(m.sets) > 0 {
		st.sets = make([]any, len(m.sets))
	}
	if len(m.headers) > 0 {
		st.headers = make([][]byte, len(m.headers))
	}
	kept := b.Records[:0]
	for _, rec := range b.Records {
		if err := m.apply(rec, &st); err != nil {
			b.Fail(rec, err)
			continue
		}
		kept = append(kept, rec)
	}
	clear(b.Records[len(kept):])
	b.Records = kept
	return nil
}

// apply evaluates every expression against the record as it is, then changes
// it. On error the record is left as it was.
func (m *mapper) apply(rec *engine.Record, st *scratch) error {
	// Evaluate.
	var newValue any
	var err error
	if m.value != nil {
		if newValue, err = m.value.Eval(rec); err != nil {
			return fmt.Errorf("value: %w", err)
		}
	}
	// A tombstone has no object to edit: set and delete leave it one, and
	// their expressions (value.a of nil) are not evaluated.
	edits := (len(m.sets) > 0 || len(m.deletes) > 0) && (m.value != nil || !rec.IsTombstone())
	for i, s := range m.sets {
		if !edits {
			break
		}
		if st.sets[i], err = s.expr.Eval(rec); err != nil {
			return fmt.Errorf("set %s: %w", s.path.text, err)
		}
	}
	var key []byte
	if m.key != nil {
		v, err := m.key.Eval(rec)
		if err != nil {
			return fmt.Errorf("key: %w", err)
		}
		if key, err = engine.KeyBytes(v); err != nil {
			return fmt.Errorf("key: %s: %w", m.key.Source.Text, err)
		}
	}
	for i, h := range m.headers {
		v, err := h.expr.Eval(rec)
		if err != nil {
			return fmt.Errorf("headers %s: %w", h.name, err)
		}
		if st.headers[i], err = headerBytes(v); err != nil {
			return fmt.Errorf("headers %s: %s: %w", h.name, h.expr.Source.Text, err)
		}
	}
	var ts int64
	if m.timestamp != nil {
		v, err := m.timestamp.Eval(rec)
		if err != nil {
			return fmt.Errorf("timestamp: %w", err)
		}
		if ts, err = timestampMillis(v); err != nil {
			return fmt.Errorf("timestamp: %s: %w", m.timestamp.Source.Text, err)
		}
	}

	// Compute the new value.
	changed := m.value != nil
	if edits {
		base := newValue
		field := "set"
		if len(m.sets) == 0 {
			field = "delete"
		}
		if m.value == nil {
			if base, err = rec.Value(); err != nil {
				return fmt.Errorf("%s: %w", field, err)
			}
		}
		obj, ok := base.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: the value is %s, not a JSON object", field, engine.DescribeValue(base))
		}
		if newValue, err = m.edit(obj, st); err != nil {
			return err
		}
		changed = true
	}

	// Apply.
	if changed {
		rec.SetValue(newValue)
	}
	if m.key != nil {
		rec.Key = key
	}
	if len(m.headers) > 0 {
		m.applyHeaders(rec, st.headers)
	}
	if m.timestamp != nil {
		rec.Timestamp = ts
	}
	return nil
}

// edit applies set and delete to a copy of obj. Objects are copied on write,
// along the paths changed only: decoded values may be shared (by records a
// flat_map made from one parent, or by an expression's result), so they are
// never changed in place.
func (m *mapper) edit(obj map[string]any, st *scratch) (map[string]any, error) {
	root := maps.Clone(obj)
	if root == nil {
		root = map[string]any{}
	}
	st.fresh = append(st.fresh[:0], mapID(root))
	for i, s := range m.sets {
		if err := st.set(root, s.path, st.sets[i]); err != nil {
			return nil, err
		}
		st.sets[i] = nil
	}
	for _, d := range m.deletes {
		st.delete(root, d)
	}
	return root, nil
}

func mapID(m map[string]any) uintptr { return reflect.ValueOf(m).Pointer() }

func (st *scratch) isFresh(m map[string]any) bool {
	id := mapID(m)
	for _, f := range st.fresh {
		if f == id {
			return true
		}
	}
	return false
}

// writable returns the object at m[seg] made safe to change: a copy unless
// this record's edit made it.
func (st *scratch) writable(m map[string]any, seg string, child map[string]any) map[string]any {
	if child != nil && st.isFresh(child) {
		return child
	}
	c := make(map[string]any, len(child)+1)
	maps.Copy(c, child)
	st.fresh = append(st.fresh, mapID(c))
	m[seg] = c
	return c
}

func (st *scratch) set(root map[string]any, p fieldPath, v any) error {
	m := root
	last := len(p.segs) - 1
	for i, seg := range p.segs[:last] {
		switch child := m[seg].(type) {
		case map[string]any:
			m = st.writable(m, seg, child)
		case nil:
			m = st.writable(m, seg, nil)
		default:
			return fmt.Errorf("set %s: %s is %s, not an object", p.text, strings.Join(p.segs[:i+1], "."), engine.DescribeValue(child))
		}
	}
	m[p.segs[last]] = v
	return nil
}

func (st *scratch) delete(root map[string]any, p fieldPath) {
	// Look first, so that nothing is copied for a path that is not there.
	m := root
	last := len(p.segs) - 1
	for _, seg := range p.segs[:last] {
		child, ok := m[seg].(map[string]any)
		if !ok {
			return
		}
		m = child
	}
	if _, ok := m[p.segs[last]]; !ok {
		return
	}
	m = root
	for _, seg := range p.segs[:last] {
		m = st.writable(m, seg, m[seg].(map[string]any))
	}
	delete(m, p.segs[last])
}

func (m *mapper) applyHeaders(rec *engine.Record, values [][]byte) {
	out := make([]engine.Header, 0, len(rec.Headers)+len(m.headers))
	for _, h := range rec.Headers {
		if !m.setsHeader(h.Key) {
			out = append(out, h)
		}
	}
	for i, h := range m.headers {
		if values[i] != nil {
			out = append(out, engine.Header{Key: h.name, Value: values[i]})
		}
		values[i] = nil
	}
	rec.Headers = out
}

func (m *mapper) setsHeader(name string) bool {
	for _, h := range m.headers {
		if h.name == name {
			return true
		}
	}
	return false
}

// headerBytes converts a header expression's result to text; nil removes
// the header.
func headerBytes(v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []byte(x), nil
	case []byte:
		if x == nil {
			return []byte{}, nil
		}
		return x, nil
	case bool:
		return strconv.AppendBool(nil, x), nil
	case time.Time:
		return x.AppendFormat(nil, time.RFC3339Nano), nil
	}
	if b, ok := engine.NumberText(v); ok {
		return b, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("cannot be written as text: %v", err)
	}
	return b, nil
}

// timestampMillis converts a timestamp expression's result.
func timestampMillis(v any) (int64, error) {
	switch x := v.(type) {
	case string:
		t, err := time.Parse(time.RFC3339Nano, x)
		if err != nil {
			return 0, fmt.Errorf("%q is not an RFC 3339 time such as 2024-05-01T12:00:00Z", x)
		}
		return t.UnixMilli(), nil
	case bool, nil:
	default:
		if ms, ok := engine.ToInt64(v); ok {
			return ms, nil
		}
	}
	return 0, fmt.Errorf("want integer milliseconds since the epoch, a time or an RFC 3339 string, got %s", engine.DescribeValue(v))
}
