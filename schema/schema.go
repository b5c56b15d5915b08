package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
)

// Draft is the JSON Schema dialect of the generated schema: draft-07, the
// newest one every editor integration (yaml-language-server, VS Code's JSON
// service, JetBrains) validates in full.
const Draft = "http://json-schema.org/draft-07/schema#"

// Patterns of the text forms the engine accepts. Each also admits a
// `${VAR}` / `${VAR:default}` reference, which the config loader replaces
// before fields are decoded, so it may stand in any scalar.
const (
	interpolation = `\$\{`
	// time.ParseDuration, without a sign: the engine rejects negative ones.
	durationPattern = `^\+?(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$`
	// humanize.ParseBytes: a number, optionally with thousands commas, then
	// an optional SI or IEC unit in any case.
	byteSizePattern = `^([0-9][0-9,]*(\.[0-9]*)?|\.[0-9]+) *([kKmMgGtTpPeE][iI]?)?[bB]?$`
	// strconv.ParseInt(s, 10, 64), strconv.ParseFloat and the two bools the
	// engine takes, for quoted scalars.
	intPattern   = `^[-+]?[0-9]+$`
	floatPattern = `^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?$`
	boolPattern  = `^(true|false)$`
)

// Generate returns the JSON Schema (draft-07) of a config file for the
// components in reg: the engine's root fields, and one definition per
// component category whose value is exactly one registered component of that
// category plus an optional label. The output is deterministic: keys in spec
// order (components by name), two-space indent, trailing newline.
//
// An error means a spec is inconsistent (an unknown kind or category, a
// shorthand naming no field, a default of the wrong type); the schema is not
// written then.
func Generate(reg *engine.Registry) ([]byte, error) {
	g := &generator{}
	root := g.root(reg)
	if len(g.errs) > 0 {
		return nil, errors.Join(g.errs...)
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, root, 0); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

type generator struct {
	errs []error
}

func (g *generator) errorf(path, format string, args ...any) {
	g.errs = append(g.errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
}

// ref points at a definition: a category ("input") or one component type
// of it ("input.file").
func ref(definition string) *object {
	return newObject().set("$ref", "#/definitions/"+definition)
}

func (g *generator) root(reg *engine.Registry) *object {
	fields := engine.RootFields()
	s := newObject().
		set("$schema", Draft).
		set("$comment", "Generated from the component specs by schema.Generate; do not edit. Regenerate with `go test ./schema -update` or `pipeline schema`.").
		set("title", "pipeline config").
		set("description", "A pipeline: inputs, a chain of processors and outputs, with engine settings. Put `# yaml-language-server: $schema=<path to this file>` in a config's first line to have an editor check it.")
	g.objectBody(s, fields, "", false)
	if rules := g.rootRules(fields); len(rules) > 0 {
		s.set("allOf", rules)
	}

	defs := newObject()
	for _, category := range engine.Categories {
		specs := reg.Specs(category)
		alternatives := make([]any, 0, len(specs))
		for _, spec := range specs {
			alternatives = append(alternatives, ref(category+"."+spec.Name))
		}
		def := newObject().set("description", categoryDescription(category, specs))
		if len(alternatives) == 0 {
			// No component of this category is registered: nothing fits.
			def.set("not", newObject())
		} else {
			def.set("oneOf", alternatives)
		}
		defs.set(category, def)
	}
	for _, category := range engine.Categories {
		for _, spec := range reg.Specs(category) {
			defs.set(category+"."+spec.Name, g.component(category, spec))
		}
	}
	s.set("definitions", defs)
	return s
}

func categoryDescription(category string, specs []config.Spec) string {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	if len(names) == 0 {
		return fmt.Sprintf("One %s. No %s types are registered.", category, category)
	}
	return fmt.Sprintf("One %s: a mapping with exactly one %s type as its key (%s) and an optional label.", category, category, strings.Join(names, ", "))
}

// rootRules are the checks of the engine's build that a schema can state:
// some input is given, and dead_letter is given exactly when on_error is
// dead_letter. Each applies only while the root fields it names exist.
func (g *generator) rootRules(fields []config.Field) []any {
	has := map[string]bool{}
	for _, f := range fields {
		has[f.Name] = true
	}
	var rules []any
	if has["input"] && has["inputs"] {
		rules = append(rules, newObject().set("anyOf", []any{
			newObject().set("required", []any{"input"}),
			newObject().set("required", []any{"inputs"}),
		}))
	}
	if has["on_error"] && has["dead_letter"] {
		isDeadLetter := func(allowInterpolation bool) *object {
			c := newObject().set("const", engine.OnErrorDeadLetter)
			if !allowInterpolation {
				return c
			}
			return newObject().set("anyOf", []any{c, interpolatedString()})
		}
		rules = append(rules,
			newObject().
				set("if", newObject().
					set("properties", newObject().set("on_error", isDeadLetter(false))).
					set("required", []any{"on_error"})).
				set("then", newObject().set("required", []any{"dead_letter"})),
			newObject().
				set("if", newObject().set("required", []any{"dead_letter"})).
				set("then", newObject().
					set("properties", newObject().set("on_error", isDeadLetter(true))).
					set("required", []any{"on_error"})),
		)
	}
	return rules
}

// component is the definition of one component type: a mapping holding the
// component under its name, and optionally a label.
func (g *generator) component(category string, spec config.Spec) *object {
	path := category + " " + spec.Name
	desc := spec.Summary
	if spec.Description != "" {
		desc += "\n\n" + spec.Description
	}
	value := newObject()
	if desc != "" {
		value.set("description", desc)
	}
	if md := markdown(desc, spec.Example); md != desc {
		value.set("markdownDescription", md)
	}
	body := newObject()
	g.objectBody(body, spec.Fields, path, true)
	if spec.Shorthand != "" {
		f, ok := spec.Field(spec.Shorthand)
		switch {
		case !ok:
			g.errorf(path, "shorthand names no field: %q", spec.Shorthand)
		case !isScalar(f.Kind):
			g.errorf(path, "shorthand field %q is a %s; a bare scalar can only fill a scalar field", f.Name, f.Kind)
		default:
			value.set("anyOf", []any{g.field(f, path+"."+f.Name), body})
		}
	}
	if _, ok := value.get("anyOf"); !ok {
		for _, k := range body.keys {
			value.set(k, body.vals[k])
		}
	}
	return newObject().
		set("type", "object").
		set("properties", newObject().
			set("label", newObject().
				set("description", "A name for this component in logs, metrics and errors, unique in the config. Defaults to its type, or to its name in a map.").
				set("type", scalarTypes()).
				set("minLength", 1)).
			set(spec.Name, value)).
		set("required", []any{spec.Name}).
		set("additionalProperties", false)
}

func markdown(desc, example string) string {
	if strings.TrimSpace(example) == "" {
		return desc
	}
	return desc + "\n\n```yaml\n" + strings.TrimRight(example, "\n") + "\n```"
}

// objectBody sets the keys of a mapping of fields. nullable lets the mapping
// be empty (null): the engine then applies every default, which works unless
// a field is required.
func (g *generator) objectBody(o *object, fields []config.Field, path string, nullable bool) {
	props := newObject()
	var required []any
	for _, f := range fields {
		fpath := joinPath(path, f.Name)
		if _, dup := props.get(f.Name); dup {
			g.errorf(fpath, "field is declared twice")
			continue
		}
		props.set(f.Name, g.field(f, fpath))
		if f.IsRequired {
			required = append(required, f.Name)
		}
	}
	if nullable && len(required) == 0 {
		o.set("type", []any{"object", "null"})
	} else {
		o.set("type", "object")
	}
	o.set("properties", props)
	if len(required) > 0 {
		o.set("required", required)
	}
	o.set("additionalProperties", false)
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func isScalar(k config.Kind) bool {
	switch k {
	case config.KindString, config.KindInt, config.KindFloat, config.KindBool,
		config.KindDuration, config.KindByteSize, config.KindExpr:
		return true
	}
	return false
}

// scalarTypes are the JSON types of YAML scalars. The engine reads a string
// field from any non-null scalar's text, so `name: 42` or `key: true` are
// strings to it, and must not be flagged by an editor.
func scalarTypes() []any { return []any{"string", "number", "boolean"} }

func interpolatedString() *object {
	return newObject().
		set("type", "string").
		set("pattern", interpolation).
		set("patternErrorMessage", "want a ${VAR} or ${VAR:default} reference")
}

// typedOrText is a scalar of JSON type typ, or a string in the form the
// engine parses (quoted in YAML), or an interpolation.
func typedOrText(typ, pattern, want string) *object {
	return newObject().set("anyOf", []any{
		// errorMessage: editors report this alternative for a wrong value.
		newObject().set("type", typ).set("errorMessage", want),
		newObject().
			set("type", "string").
			set("pattern", pattern+"|"+interpolation).
			set("patternErrorMessage", want),
	})
}

// field is the schema of one field's value.
func (g *generator) field(f config.Field, path string) *object {
	s := newObject()
	if f.Description != "" {
		s.set("description", f.Description)
	}
	switch f.Kind {
	case config.KindString:
		if len(f.Options) > 0 {
			s.set("anyOf", []any{
				newObject().set("enum", enumValues(f.Options)),
				interpolatedString(),
			})
		} else {
			s.set("type", scalarTypes())
		}
	case config.KindExpr:
		s.set("type", scalarTypes())
	case config.KindInt:
		merge(s, typedOrText("integer", intPattern, "want an integer, or a ${VAR:default} reference"))
	case config.KindFloat:
		merge(s, typedOrText("number", floatPattern, "want a number, or a ${VAR:default} reference"))
	case config.KindBool:
		merge(s, typedOrText("boolean", boolPattern, "want true or false, or a ${VAR:default} reference"))
	case config.KindDuration:
		const want = "want a duration such as 500ms, 10s or 1m30s, or a ${VAR:default} reference"
		s.set("type", "string").
			set("pattern", durationPattern+"|"+interpolation).
			set("patternErrorMessage", want).
			set("errorMessage", want)
	case config.KindByteSize:
		const want = "want a size such as 512, 64KiB or 16MiB, or a ${VAR:default} reference"
		s.set("anyOf", []any{
			// errorMessage: editors report this alternative for a wrong word.
			newObject().set("type", "integer").set("minimum", 0).set("errorMessage", want),
			newObject().
				set("type", "string").
				set("pattern", byteSizePattern+"|"+interpolation).
				set("patternErrorMessage", want),
		})
	case config.KindStringList:
		s.set("type", "array").set("items", newObject().set("type", scalarTypes()))
	case config.KindStringMap, config.KindExprMap:
		s.set("type", "object").set("additionalProperties", newObject().set("type", scalarTypes()))
	case config.KindObject:
		g.objectBody(s, f.Fields, path, true)
	case config.KindObjectList:
		item := newObject()
		g.objectBody(item, f.Fields, path+".*", true)
		s.set("type", "array").set("items", item)
	case config.KindAny:
	case config.KindComponent, config.KindComponentList, config.KindComponentMap:
		if !isCategory(f.Category) {
			g.errorf(path, "%s field has unknown category %q (want one of %s)", f.Kind, f.Category, strings.Join(engine.Categories, ", "))
			return s
		}
		switch f.Kind {
		case config.KindComponent:
			// draft-07 ignores keywords beside $ref, so the description
			// stays here and the reference goes one level down.
			s.set("allOf", []any{ref(f.Category)})
		case config.KindComponentList:
			s.set("type", "array").set("items", ref(f.Category))
		case config.KindComponentMap:
			s.set("type", "object").set("additionalProperties", ref(f.Category))
		}
	default:
		g.errorf(path, "unknown kind %q", f.Kind)
		return s
	}
	if f.DefaultValue != nil {
		if v, ok := g.value(f, f.DefaultValue, path, "default"); ok {
			s.set("default", v)
		}
	}
	if len(f.Examples) > 0 {
		var examples []any
		for _, e := range f.Examples {
			if v, ok := g.value(f, e, path, "example"); ok {
				examples = append(examples, v)
			}
		}
		s.set("examples", examples)
	}
	return s
}

func merge(dst, src *object) {
	for _, k := range src.keys {
		dst.set(k, src.vals[k])
	}
}

func isCategory(c string) bool {
	for _, x := range engine.Categories {
		if x == c {
			return true
		}
	}
	return false
}

// enumValues lists the allowed values of a string field, adding the typed
// value of each that YAML reads as a number or bool: the engine takes the
// scalar's text, so `acks: 1` matches the option "1".
func enumValues(options []string) []any {
	out := make([]any, 0, len(options))
	for _, o := range options {
		out = append(out, o)
		if i, err := strconv.ParseInt(o, 10, 64); err == nil && o == strconv.FormatInt(i, 10) {
			out = append(out, i)
		} else if o == "true" || o == "false" {
			out = append(out, o == "true")
		}
	}
	return out
}

// value checks a default or example against the field's kind and returns
// it as plain JSON.
func (g *generator) value(f config.Field, v any, path, what string) (any, bool) {
	if d, ok := v.(time.Duration); ok {
		v = d.String()
	}
	bad := func(want string) (any, bool) {
		g.errorf(path, "%s %#v is not %s", what, v, want)
		return nil, false
	}
	switch f.Kind {
	case config.KindString:
		s, ok := v.(string)
		if !ok {
			return bad("a string")
		}
		if len(f.Options) > 0 && !contains(f.Options, s) {
			return bad("one of " + strings.Join(f.Options, ", "))
		}
	case config.KindExpr:
		if _, ok := v.(string); !ok {
			return bad("a string")
		}
	case config.KindInt:
		switch v.(type) {
		case int, int32, int64:
		default:
			return bad("an int")
		}
	case config.KindFloat:
		switch v.(type) {
		case float64, float32, int, int64:
		default:
			return bad("a number")
		}
	case config.KindBool:
		if _, ok := v.(bool); !ok {
			return bad("a bool")
		}
	case config.KindDuration:
		s, ok := v.(string)
		if !ok {
			return bad("a duration string")
		}
		if d, err := time.ParseDuration(s); err != nil || d < 0 {
			return bad("a duration of zero or more")
		}
	case config.KindByteSize:
		switch x := v.(type) {
		case int, int64, uint64:
		case string:
			if _, err := humanize.ParseBytes(x); err != nil {
				return bad("a size")
			}
		default:
			return bad("a size")
		}
	case config.KindStringList:
		switch v.(type) {
		case []string, []any:
		default:
			return bad("a list of strings")
		}
	}
	out, err := plain(v)
	if err != nil {
		g.errorf(path, "%s %#v: %v", what, v, err)
		return nil, false
	}
	return out, true
}

// plain converts v to what encoding/json decodes: maps, slices, strings,
// bools and json.Number.
func plain(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return nil, err
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
