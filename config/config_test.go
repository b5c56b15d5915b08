package config

import (
	"strings"
	"testing"
	"time"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func TestInterpolate(t *testing.T) {
	vars := env(map[string]string{"HOST": "kafka", "EMPTY": ""})
	tests := []struct{ in, want, err string }{
		{in: "${HOST}:9092", want: "kafka:9092"},
		{in: "${PORT:9092}", want: "9092"},
		{in: "${HOST:localhost}", want: "kafka"},
		{in: "${EMPTY:fallback}", want: "fallback"},
		{in: "${EMPTY}", want: ""},
		{in: "a ${X:} b", want: "a  b"},
		{in: "$${HOST} stays", want: "${HOST} stays"},
		{in: "${URL:http://h:1/p}", want: "http://h:1/p"},
		{in: "${MISSING}", err: `environment variable "MISSING" is not set and has no default (write ${MISSING:default})`},
		{in: "${1BAD}", err: `invalid environment variable reference "${1BAD}"`},
	}
	for _, tt := range tests {
		got, err := Interpolate(tt.in, vars)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("Interpolate(%q) error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Interpolate(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

var testFields = []Field{
	String("name", "").Required(),
	String("codec", "").Default("lines").Enum("lines", "json_lines"),
	Int("count", "").Default(10),
	Float("ratio", "").Default(0.5),
	Bool("enabled", "").Default(true),
	Duration("interval", "").Default("1s"),
	ByteSize("size", "").Default("16MiB"),
	StringList("paths", ""),
	StringMap("labels", ""),
	ExprMap("set", ""),
	Expr("check", ""),
	Object("tls", "", Bool("enabled", "").Default(false), String("ca", "")),
	ObjectList("cases", "", Expr("when", "").Required()),
}

func parse(t *testing.T, text string, opts LoadOptions) (*Parsed, error) {
	t.Helper()
	if opts.LookupEnv == nil {
		opts.LookupEnv = env(nil)
	}
	doc, err := Load("c.yaml", []byte(text), opts)
	if err != nil {
		return nil, err
	}
	p, errs := Parse(doc.File, "", doc.Root, testFields)
	return p, errs.Err()
}

func TestParseTypedValuesAndDefaults(t *testing.T) {
	p, err := parse(t, `
name: n
count: ${COUNT:42}
interval: 250ms
size: 64KiB
paths: [a, b]
labels: {x: "1", y: "2"}
set: {"a.b": 'value + 1'}
check: "value > 1"
tls: {ca: /ca.pem}
cases: [{when: 'true'}, {when: 'false'}]
`, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.String("name") != "n" || p.String("codec") != "lines" || p.Int("count") != 42 || p.Float("ratio") != 0.5 ||
		!p.Bool("enabled") || p.Duration("interval") != 250*time.Millisecond || p.ByteSize("size") != 64*1024 {
		t.Fatalf("scalars: %q %q %d %v %v %v %d", p.String("name"), p.String("codec"), p.Int("count"), p.Float("ratio"), p.Bool("enabled"), p.Duration("interval"), p.ByteSize("size"))
	}
	if got := strings.Join(p.StringList("paths"), ","); got != "a,b" {
		t.Fatalf("paths %q", got)
	}
	if m := p.Map("labels"); len(m) != 2 || m[0].Key != "x" || m[1].Value != "2" {
		t.Fatalf("labels %+v", m)
	}
	if set := p.Map("set"); set[0].Key != "a.b" || set[0].Expr.Text != "value + 1" || set[0].Expr.Path != "set.a.b" {
		t.Fatalf("set %+v", set)
	}
	if p.Object("tls").String("ca") != "/ca.pem" || p.Object("tls").Bool("enabled") {
		t.Fatal("nested object")
	}
	if cases := p.ObjectList("cases"); len(cases) != 2 || cases[1].Expr("when").Text != "false" || cases[1].Path() != "cases.1" {
		t.Fatal("object list")
	}
	if p.Has("codec") || !p.Has("count") {
		t.Fatal("Has must tell given from defaulted")
	}
	if d, _ := parse(t, "name: n", LoadOptions{}); d.Duration("interval") != time.Second || d.ByteSize("size") != 16<<20 {
		t.Fatal("defaults of duration and size")
	}
}

func TestParseReportsEveryErrorWithPositionAndSuggestion(t *testing.T) {
	_, err := parse(t, `codek: lines
count: many
enabled: yes
interval: 10
size: lots
codec: csv
paths: a
tls: {enabeld: true}
cases: [{}]
labels: {x: [1]}
`, LoadOptions{})
	want := `c.yaml:1:1: codek: unknown field "codek", did you mean "codec"?
c.yaml:1:1: name: missing required field "name"
c.yaml:2:8: count: want an integer, got "many"
c.yaml:3:10: enabled: want true or false, got "yes"
c.yaml:4:11: interval: want a duration such as 500ms, 10s or 1m30s, got "10"
c.yaml:5:7: size: want a size such as 512, 64KiB or 16MiB, got "lots"
c.yaml:6:8: codec: "csv" is not one of lines, json_lines
c.yaml:7:8: paths: want a list of strings, got "a"
c.yaml:8:7: tls.enabeld: unknown field "enabeld", did you mean "enabled"?
c.yaml:9:9: cases.0.when: missing required field "when"
c.yaml:10:13: labels.x: want a string, got a list`
	if err == nil || err.Error() != want {
		t.Fatalf("errors:\n%v\nwant:\n%s", err, want)
	}
}

func TestUndefinedVariableNamesVariableAndLine(t *testing.T) {
	_, err := parse(t, "name: n\npaths:\n  - ${INPUT_FILE}\n", LoadOptions{})
	want := `c.yaml:3:5: paths.0: environment variable "INPUT_FILE" is not set and has no default (write ${INPUT_FILE:default})`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}

func TestOverrides(t *testing.T) {
	p, err := parse(t, "name: n\npaths: [a, b]\ntls: {ca: x}\n", LoadOptions{Overrides: []string{
		"paths.0=/data/in.txt", "paths.2=c", "count=7", "tls.enabled=true", "cases.0.when=value > 1", "labels={k: v}",
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(p.StringList("paths"), ","); got != "/data/in.txt,b,c" {
		t.Fatalf("paths %q", got)
	}
	if p.Int("count") != 7 || !p.Object("tls").Bool("enabled") || p.Object("tls").String("ca") != "x" {
		t.Fatal("scalar overrides")
	}
	if p.ObjectList("cases")[0].Expr("when").Text != "value > 1" || p.Map("labels")[0].Value != "v" {
		t.Fatal("created containers")
	}
	_, err = parse(t, "name: n\npaths: [a]\n", LoadOptions{Overrides: []string{"paths.5=x", "nope", "name.x=1"}})
	want := `--set name.x=1: name: cannot set a field inside a scalar value
--set nope: want path=value
--set paths.5=x: paths.5: want an index from 0 to 1`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}

func TestOverridesAreInterpolatedAndTyped(t *testing.T) {
	p, err := parse(t, "name: n\n", LoadOptions{Overrides: []string{"count=${N:3}"}})
	if err != nil || p.Int("count") != 3 {
		t.Fatalf("count %v %v", p, err)
	}
}

func TestYAMLSyntaxErrorHasLine(t *testing.T) {
	_, err := Load("bad.yaml", []byte("name: n\ninput:\n  file: x\n    paths: y\n"), LoadOptions{})
	if err == nil || err.Error() != "bad.yaml:4:1: invalid YAML: mapping values are not allowed in this context" {
		t.Fatalf("got %v", err)
	}
}

func TestExprErrorPositions(t *testing.T) {
	doc, err := Load("e.yaml", []byte("plain: value +\nquoted: 'value +'\nblock: |\n  a +\n  b +\n"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, errs := Parse("e.yaml", "", doc.Root, []Field{Expr("plain", ""), Expr("quoted", ""), Expr("block", "")})
	if errs != nil {
		t.Fatal(errs)
	}
	for _, tt := range []struct {
		field     string
		line, col int
		want      string
	}{
		{"plain", 1, 6, "e.yaml:1:14"},
		{"quoted", 1, 6, "e.yaml:2:16"},
		{"block", 2, 2, "e.yaml:5:10"},
	} {
		got := p.Expr(tt.field).ErrorAt(tt.line, tt.col, "x").Pos.String()
		if got != tt.want {
			t.Errorf("%s: %s, want %s", tt.field, got, tt.want)
		}
	}
}

func FuzzLoad(f *testing.F) {
	f.Add("name: n\ncount: ${N:5}\npaths: [a]\n", "count=3")
	f.Add("tls: {ca: x}\ncases: [{when: 'true'}]\n", "tls.enabled=true")
	f.Add("a: [\n", "x.0.y=1")
	f.Add("- 1\n- 2\n", "=")
	f.Add("labels: {x: ${Y}}\n", "labels.x=$${z}")
	f.Fuzz(func(t *testing.T, text, override string) {
		doc, err := Load("f.yaml", []byte(text), LoadOptions{Overrides: []string{override}, LookupEnv: env(map[string]string{"N": "1"})})
		if err != nil {
			if _, ok := err.(Errors); !ok {
				t.Fatalf("Load error must be Errors, got %T", err)
			}
			return
		}
		_, errs := Parse(doc.File, "", doc.Root, testFields)
		for _, e := range errs {
			if e.Msg == "" {
				t.Fatal("an error without a message")
			}
		}
	})
}

func TestScalarWhereObjectBelongsStillHasDefaults(t *testing.T) {
	doc, err := Load("s.yaml", []byte("tls: debug\n"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, errs := Parse(doc.File, "", doc.Root, testFields[11:12])
	if errs.Err() == nil || errs.Err().Error() != `s.yaml:1:6: tls: want a mapping of fields, got "debug"` {
		t.Fatalf("errors %v", errs)
	}
	if p.Object("tls").Bool("enabled") {
		t.Fatal("the default must still be readable")
	}
}

func TestOverriddenValueErrorsSayTheyCameFromSet(t *testing.T) {
	_, err := parse(t, "name: n\n", LoadOptions{Overrides: []string{"codec=xml"}})
	if err == nil || err.Error() != `c.yaml (--set): codec: "xml" is not one of lines, json_lines` {
		t.Fatalf("got %v", err)
	}
}
