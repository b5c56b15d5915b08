package config

// Kind is the type of a config field's value.
type Kind string

// Field kinds. Component kinds hold other components and are resolved by the
// engine's registry; config keeps their nodes untouched.
const (
	KindString     Kind = "string"
	KindInt        Kind = "int"
	KindFloat      Kind = "float"
	KindBool       Kind = "bool"
	KindDuration   Kind = "duration"  // Go duration text: 500ms, 10s, 1m30s
	KindByteSize   Kind = "byte_size" // 512, 64KiB, 16MiB, 1GB
	KindExpr       Kind = "expr"      // an expr-lang expression, compiled at load
	KindStringList Kind = "string_list"
	KindStringMap  Kind = "string_map" // ordered mapping of string to string
	KindExprMap    Kind = "expr_map"   // ordered mapping of name to expression
	KindObject     Kind = "object"
	KindObjectList Kind = "object_list"
	KindAny        Kind = "any"

	KindComponent     Kind = "component"      // one component of Category
	KindComponentList Kind = "component_list" // a list of components of Category
	KindComponentMap  Kind = "component_map"  // named components of Category
)

// Field describes one configuration field, once: decoding, defaults, lint,
// documentation and the JSON Schema all come from it.
type Field struct {
	Name        string
	Kind        Kind
	Description string
	// DefaultValue applies when the field is absent; nil means no default.
	DefaultValue any
	IsRequired   bool
	Options      []string // the allowed values of a string field
	Examples     []any
	Fields       []Field // the fields of an object or of each object in a list
	Category     string  // for component kinds: "input", "processor" or "output"
	// IsAdvanced marks fields most users never set; docs list them last.
	IsAdvanced bool
	// IsSecret marks a value that is never printed: errors about it show
	// *** instead of the value (see Secret).
	IsSecret bool
}

func newField(kind Kind, name, description string) Field {
	return Field{Name: name, Kind: kind, Description: description}
}

// Field constructors, one per kind. Chain the modifiers below on the result.
func String(name, description string) Field   { return newField(KindString, name, description) }
func Int(name, description string) Field      { return newField(KindInt, name, description) }
func Float(name, description string) Field    { return newField(KindFloat, name, description) }
func Bool(name, description string) Field     { return newField(KindBool, name, description) }
func Duration(name, description string) Field { return newField(KindDuration, name, description) }
func ByteSize(name, description string) Field { return newField(KindByteSize, name, description) }
func Expr(name, description string) Field     { return newField(KindExpr, name, description) }
func Any(name, description string) Field      { return newField(KindAny, name, description) }
func StringList(name, description string) Field {
	return newField(KindStringList, name, description)
}
func StringMap(name, description string) Field { return newField(KindStringMap, name, description) }
func ExprMap(name, description string) Field   { return newField(KindExprMap, name, description) }

// Object is a nested group of fields.
func Object(name, description string, fields ...Field) Field {
	f := newField(KindObject, name, description)
	f.Fields = fields
	return f
}

// ObjectList is a list whose items each have fields.
func ObjectList(name, description string, fields ...Field) Field {
	f := newField(KindObjectList, name, description)
	f.Fields = fields
	return f
}

// Component is one component of a category ("input", "processor", "output").
func Component(name, category, description string) Field {
	f := newField(KindComponent, name, description)
	f.Category = category
	return f
}

// ComponentList is an ordered list of components of a category.
func ComponentList(name, category, description string) Field {
	f := newField(KindComponentList, name, description)
	f.Category = category
	return f
}

// ComponentMap is a mapping of names to components of a category.
func ComponentMap(name, category, description string) Field {
	f := newField(KindComponentMap, name, description)
	f.Category = category
	return f
}

// Default sets the value used when the field is absent.
func (f Field) Default(v any) Field { f.DefaultValue = v; return f }

// Required makes the field mandatory.
func (f Field) Required() Field { f.IsRequired = true; return f }

// Enum restricts a string field to the given values.
func (f Field) Enum(values ...string) Field { f.Options = values; return f }

// Example adds an example value for docs and the schema.
func (f Field) Example(v ...any) Field { f.Examples = append(f.Examples, v...); return f }

// Advanced marks the field as one most users leave alone.
func (f Field) Advanced() Field { f.IsAdvanced = true; return f }

// Secret marks a field whose value (a password, a token) must never be
// printed: config errors about it say *** instead of the value, and
// Parsed.Secret reads it as a Secret, which formats as ***. A --set of a
// field of that name is shown without its value when the name is a common
// secret name (password, token, ...) or is given in LoadOptions.SecretNames
// (see SecretNames). Give such values as ${ENV}. It changes nothing but the
// field it returns.
func (f Field) Secret() Field {
	f.IsSecret = true
	return f
}

// Spec is the configuration of one component type.
type Spec struct {
	Name        string
	Summary     string // one line
	Description string // more detail, may be empty
	Fields      []Field
	// Shorthand names the field that a bare scalar fills, so that
	// `filter: 'value > 1'` means `filter: {condition: 'value > 1'}`.
	Shorthand string
	// Example is a YAML snippet showing the component in a config.
	Example string
}

// Field returns the spec's field with the given name.
func (s Spec) Field(name string) (Field, bool) {
	for _, f := range s.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}
