package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"gopkg.in/yaml.v3"
)

// Parsed is a validated mapping: every field of its spec decoded to its type,
// with defaults applied and the node of each given value kept for errors.
type Parsed struct {
	file   string
	path   string
	node   *yaml.Node
	values map[string]*value
}

type value struct {
	field Field
	node  *yaml.Node // nil when the default was applied
	v     any
}

// Pair is one entry of a string or expression mapping, in file order.
type Pair struct {
	Key   string
	Value string
	Expr  ExprSource // set for expression maps
}

// ExprSource is an expression's text and where it stands in the file, so that
// a compile error inside it can point at the right line and column.
type ExprSource struct {
	Text string
	Path string
	pos  Pos
	// quoted is how many characters precede the text on its first line (the
	// opening quote of a quoted scalar).
	quoted int
	block  bool
}

// Sub is a part of the expression: text starting offset bytes into it, so
// that errors inside the part point at the right column.
func (e ExprSource) Sub(offset int, text string) ExprSource {
	e.Text = text
	if !e.block {
		e.quoted += offset
	}
	return e
}

// Pos is where the expression's node starts.
func (e ExprSource) Pos() Pos { return e.pos }

// ErrorAt makes an error located at line (1-based) and column (0-based) of
// the expression text.
func (e ExprSource) ErrorAt(line, col int, msg string) *Error {
	p := e.pos
	if p.Line > 0 {
		switch {
		case e.block:
			p.Line += line
			p.Col = e.pos.Col + col
		case line <= 1:
			p.Col += e.quoted + col
		default:
			p.Line += line - 1
			p.Col = col + 1
		}
	}
	return &Error{Pos: p, Path: e.Path, Msg: msg}
}

// Parse decodes node (a mapping, or null for "all defaults") against fields.
// file and path locate the node for errors. All problems are returned.
func Parse(file, path string, node *yaml.Node, fields []Field) (*Parsed, Errors) {
	p := &Parsed{file: file, path: path, node: node, values: make(map[string]*value, len(fields))}
	var errs Errors
	if node != nil && !isNull(node) && node.Kind != yaml.MappingNode {
		// Carry on as if the mapping were empty, so every field still has
		// its default and readers of this Parsed never meet a missing field.
		errs = append(errs, p.errorAt(node, path, "want a mapping of fields, got %s", describe(node)))
		node = nil
	}
	byName := make(map[string]Field, len(fields))
	names := make([]string, 0, len(fields))
	for _, f := range fields {
		byName[f.Name] = f
		names = append(names, f.Name)
	}
	if node != nil && node.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(node.Content); i += 2 {
			k, v := node.Content[i], node.Content[i+1]
			fieldPath := JoinPath(path, k.Value)
			f, ok := byName[k.Value]
			if !ok {
				errs = append(errs, p.errorAt(k, fieldPath, "unknown field %q%s", k.Value, Suggest(k.Value, names)))
				continue
			}
			if _, dup := p.values[k.Value]; dup {
				errs = append(errs, p.errorAt(k, fieldPath, "field %q is given twice", k.Value))
				continue
			}
			decoded, ferrs := p.decode(f, v, fieldPath)
			if f.IsSecret {
				ferrs = redactNode(ferrs, v)
			}
			errs = append(errs, ferrs...)
			p.values[k.Value] = &value{field: f, node: v, v: decoded}
		}
	}
	for _, f := range fields {
		if _, ok := p.values[f.Name]; ok {
			continue
		}
		if f.IsRequired {
			at := node
			if at == nil {
				at = &yaml.Node{}
			}
			errs = append(errs, p.errorAt(at, JoinPath(path, f.Name), "missing required field %q", f.Name))
			continue
		}
		p.values[f.Name] = &value{field: f, v: p.defaultOf(f)}
	}
	return p, errs
}

func (p *Parsed) defaultOf(f Field) any {
	switch f.Kind {
	case KindObject:
		sub, _ := Parse(p.file, JoinPath(p.path, f.Name), nil, f.Fields)
		return sub
	case KindDuration:
		if s, ok := f.DefaultValue.(string); ok {
			d, err := time.ParseDuration(s)
			if err != nil {
				panic(fmt.Sprintf("config: field %s: bad default duration %q", f.Name, s))
			}
			return d
		}
	case KindExpr:
		if s, ok := f.DefaultValue.(string); ok {
			return ExprSource{Text: s, Path: JoinPath(p.path, f.Name), pos: Pos{File: p.file}}
		}
	case KindByteSize:
		if s, ok := f.DefaultValue.(string); ok {
			n, err := humanize.ParseBytes(s)
			if err != nil {
				panic(fmt.Sprintf("config: field %s: bad default size %q", f.Name, s))
			}
			return int64(n)
		}
	}
	return f.DefaultValue
}

func (p *Parsed) decode(f Field, n *yaml.Node, path string) (any, Errors) {
	fail := func(format string, args ...any) (any, Errors) {
		return nil, Errors{p.errorAt(n, path, format, args...)}
	}
	scalar := func() (string, bool) {
		return n.Value, n.Kind == yaml.ScalarNode && !isNull(n)
	}
	switch f.Kind {
	case KindString:
		s, ok := scalar()
		if !ok {
			return fail("want a string, got %s", describe(n))
		}
		if len(f.Options) > 0 && !contains(f.Options, s) {
			return fail("%q is not one of %s%s", s, strings.Join(f.Options, ", "), Suggest(s, f.Options))
		}
		return s, nil
	case KindExpr:
		s, ok := scalar()
		if !ok {
			return fail("want an expression (a string), got %s", describe(n))
		}
		return p.exprSource(s, n, path), nil
	case KindInt:
		s, ok := scalar()
		i, err := strconv.ParseInt(s, 10, 64)
		if !ok || err != nil {
			return fail("want an integer, got %s", describe(n))
		}
		return int(i), nil
	case KindFloat:
		s, ok := scalar()
		x, err := strconv.ParseFloat(s, 64)
		if !ok || err != nil {
			return fail("want a number, got %s", describe(n))
		}
		return x, nil
	case KindBool:
		s, ok := scalar()
		b, err := strconv.ParseBool(s)
		if !ok || err != nil || (s != "true" && s != "false") {
			return fail("want true or false, got %s", describe(n))
		}
		return b, nil
	case KindDuration:
		s, ok := scalar()
		d, err := time.ParseDuration(s)
		if !ok || err != nil {
			return fail("want a duration such as 500ms, 10s or 1m30s, got %s", describe(n))
		}
		if d < 0 {
			return fail("want a duration of zero or more, got %s", s)
		}
		return d, nil
	case KindByteSize:
		s, ok := scalar()
		size, err := humanize.ParseBytes(s)
		if !ok || err != nil {
			return fail("want a size such as 512, 64KiB or 16MiB, got %s", describe(n))
		}
		return int64(size), nil
	case KindStringList:
		if n.Kind != yaml.SequenceNode {
			return fail("want a list of strings, got %s", describe(n))
		}
		out := make([]string, 0, len(n.Content))
		var errs Errors
		for i, c := range n.Content {
			if c.Kind != yaml.ScalarNode || isNull(c) {
				errs = append(errs, p.errorAt(c, JoinPath(path, strconv.Itoa(i)), "want a string, got %s", describe(c)))
				continue
			}
			out = append(out, c.Value)
		}
		return out, errs
	case KindStringMap, KindExprMap:
		if n.Kind != yaml.MappingNode {
			return fail("want a mapping of names to %s, got %s", map[Kind]string{KindStringMap: "strings", KindExprMap: "expressions"}[f.Kind], describe(n))
		}
		var out []Pair
		var errs Errors
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			entryPath := JoinPath(path, k.Value)
			if v.Kind != yaml.ScalarNode || isNull(v) {
				errs = append(errs, p.errorAt(v, entryPath, "want a string, got %s", describe(v)))
				continue
			}
			pair := Pair{Key: k.Value, Value: v.Value}
			if f.Kind == KindExprMap {
				pair.Expr = p.exprSource(v.Value, v, entryPath)
			}
			out = append(out, pair)
		}
		return out, errs
	case KindObject:
		sub, errs := Parse(p.file, path, n, f.Fields)
		return sub, errs
	case KindObjectList:
		if n.Kind != yaml.SequenceNode {
			return fail("want a list, got %s", describe(n))
		}
		var out []*Parsed
		var errs Errors
		for i, c := range n.Content {
			sub, serrs := Parse(p.file, JoinPath(path, strconv.Itoa(i)), c, f.Fields)
			out = append(out, sub)
			errs = append(errs, serrs...)
		}
		return out, errs
	case KindComponent, KindComponentMap:
		if n.Kind != yaml.MappingNode {
			return fail("want a mapping, got %s", describe(n))
		}
		return n, nil
	case KindComponentList:
		if n.Kind != yaml.SequenceNode {
			return fail("want a list of %ss, got %s", f.Category, describe(n))
		}
		return n, nil
	case KindAny:
		var v any
		if err := n.Decode(&v); err != nil {
			return fail("%v", err)
		}
		return v, nil
	}
	panic("config: unknown field kind " + string(f.Kind))
}

func (p *Parsed) exprSource(text string, n *yaml.Node, path string) ExprSource {
	e := ExprSource{Text: text, Path: path, pos: Pos{File: p.file, Line: n.Line, Col: n.Column}}
	switch n.Style {
	case yaml.SingleQuotedStyle, yaml.DoubleQuotedStyle:
		e.quoted = 1
	case yaml.LiteralStyle, yaml.FoldedStyle:
		e.block = true
	}
	return e
}

func (p *Parsed) errorAt(n *yaml.Node, path, format string, args ...any) *Error {
	file := p.file
	if n.Line == 0 && n.Kind != 0 {
		// Only nodes given with --set have no place in the file.
		file += " (--set)"
	}
	return &Error{Pos: Pos{File: file, Line: n.Line, Col: n.Column}, Path: path, Msg: fmt.Sprintf(format, args...)}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	if isNull(n) {
		return "nothing"
	}
	return strconv.Quote(n.Value)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (p *Parsed) get(name string, kinds ...Kind) *value {
	v, ok := p.values[name]
	if !ok {
		panic(fmt.Sprintf("config: %s has no field %q", p.path, name))
	}
	if len(kinds) > 0 && !contains(kindsToStrings(kinds), string(v.field.Kind)) {
		panic(fmt.Sprintf("config: field %s.%s is %s, read as %v", p.path, name, v.field.Kind, kinds))
	}
	return v
}

func kindsToStrings(ks []Kind) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = string(k)
	}
	return out
}

// Path is the dotted path of this mapping in the file, e.g. "input.file".
func (p *Parsed) Path() string { return p.path }

// File is the config file this mapping came from.
func (p *Parsed) File() string { return p.file }

// Has reports whether the field was given in the file (not defaulted).
func (p *Parsed) Has(name string) bool { return p.get(name).node != nil }

// Node is the YAML node of a given field, or nil when it was not given.
func (p *Parsed) Node(name string) *yaml.Node { return p.get(name).node }

// FieldPath is the dotted path of a field.
func (p *Parsed) FieldPath(name string) string { return JoinPath(p.path, name) }

// Errorf makes an error located at a field's value (or at this mapping when
// the field was not given).
func (p *Parsed) Errorf(name, format string, args ...any) *Error {
	n := p.get(name).node
	if n == nil {
		n = p.node
	}
	if n == nil {
		n = &yaml.Node{}
	}
	return p.errorAt(n, p.FieldPath(name), format, args...)
}

// Typed accessors. They panic when the name or kind does not match the spec:
// that is a bug in the component, never a user error.

func (p *Parsed) String(name string) string {
	v, _ := p.get(name, KindString).v.(string)
	return v
}
func (p *Parsed) Int(name string) int {
	v, _ := p.get(name, KindInt).v.(int)
	return v
}
func (p *Parsed) Float(name string) float64 {
	switch v := p.get(name, KindFloat).v.(type) {
	case float64:
		return v
	case int:
		return float64(v)
	}
	return 0
}
func (p *Parsed) Bool(name string) bool {
	v, _ := p.get(name, KindBool).v.(bool)
	return v
}
func (p *Parsed) Duration(name string) time.Duration {
	v, _ := p.get(name, KindDuration).v.(time.Duration)
	return v
}
func (p *Parsed) ByteSize(name string) int64 {
	switch v := p.get(name, KindByteSize).v.(type) {
	case int64:
		return v
	case int:
		return int64(v)
	}
	return 0
}
func (p *Parsed) StringList(name string) []string {
	switch v := p.get(name, KindStringList).v.(type) {
	case []string:
		return v
	}
	return nil
}
func (p *Parsed) Map(name string) []Pair {
	v, _ := p.get(name, KindStringMap, KindExprMap).v.([]Pair)
	return v
}
func (p *Parsed) Expr(name string) ExprSource {
	v, _ := p.get(name, KindExpr).v.(ExprSource)
	return v
}
func (p *Parsed) Object(name string) *Parsed {
	v, _ := p.get(name, KindObject).v.(*Parsed)
	return v
}
func (p *Parsed) ObjectList(name string) []*Parsed {
	v, _ := p.get(name, KindObjectList).v.([]*Parsed)
	return v
}
func (p *Parsed) Any(name string) any { return p.get(name, KindAny).v }
