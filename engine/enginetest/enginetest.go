package enginetest

import (
	"context"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
)

// File is the name Build and Run load configs as; error positions start with
// it, e.g. "t.yaml:2:17: input.file.paths: ...".
const File = "t.yaml"

// noEnv resolves no ${VAR}, so that a test does not depend on the
// environment it runs in.
func noEnv(string) (string, bool) { return "", false }

// ParseFields parses the fields of a component, given as a YAML mapping such
// as `{codec: lines}`, against spec as the config path category.name (e.g.
// "input.file"). It fails the test on a YAML or config error.
func ParseFields(t testing.TB, category string, spec config.Spec, fields string) *config.Parsed {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(fields), &doc); err != nil {
		t.Fatal(err)
	}
	conf, errs := config.Parse(File, category+"."+spec.Name, doc.Content[0], spec.Fields)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return conf
}

// NewInput parses fields (see ParseFields) and constructs the input with
// p.New, labelled label. It fails the test on any error.
func NewInput(t testing.TB, p engine.InputPlugin, label, fields string) engine.Input {
	t.Helper()
	in, err := p.New(ParseFields(t, "input", p.Spec, fields), &engine.Resources{Label: label})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// StartInput resumes in from points (when there are any, through
// engine.Resumer) and starts it; the test's cleanup closes it.
func StartInput(t testing.TB, in engine.Input, points ...engine.Checkpoint) {
	t.Helper()
	if len(points) > 0 {
		if err := in.(engine.Resumer).Resume(points); err != nil {
			t.Fatal(err)
		}
	}
	if s, ok := in.(engine.Starter); ok {
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { in.Close(context.Background()) })
}

// NewOutput parses fields (see ParseFields) and constructs the output with
// p.New, labelled label. It fails the test on any error.
func NewOutput(t testing.TB, p engine.OutputPlugin, label, fields string) engine.Output {
	t.Helper()
	out, err := p.New(ParseFields(t, "output", p.Spec, fields), &engine.Resources{Label: label})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// load loads a config, failing the test when it does not load.
func load(t testing.TB, name, text string) *config.Document {
	t.Helper()
	doc, err := config.Load(name, []byte(text), config.LoadOptions{LookupEnv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// Build loads the pipeline config yaml as File, failing the test when it
// does not load, and returns what engine.Build makes of it with a registry
// filled by registers (e.g. inputs.Register, outputs.Register). Its state
// (and the positions the engine keeps) goes to a temporary directory unless
// the config names one.
func Build(t testing.TB, yaml string, registers ...func(*engine.Registry)) (*engine.Pipeline, error) {
	t.Helper()
	return engine.Build(load(t, File, yaml), engine.NewRegistry(registers...), engine.BuildOptions{StateDir: t.TempDir()})
}

// Run builds the pipeline as Build does, failing the test on a build error,
// and runs it until it ends or timeout passes. It returns the run's error.
func Run(t testing.TB, timeout time.Duration, yaml string, registers ...func(*engine.Registry)) error {
	t.Helper()
	p, err := Build(t, yaml, registers...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return p.Run(ctx)
}

// CheckInputSpec checks that the example of an input's spec builds, with a
// drop output (registers must provide it and the input), and that every
// field has a description and an example or a default.
func CheckInputSpec(t testing.TB, spec config.Spec, registers ...func(*engine.Registry)) {
	t.Helper()
	checkSpec(t, spec, spec.Example+"\noutput:\n  drop: {}\n", registers)
}

// CheckOutputSpec checks that the example of an output's spec builds, with a
// generate input (registers must provide it and the output), and that every
// field has a description and an example or a default.
func CheckOutputSpec(t testing.TB, spec config.Spec, registers ...func(*engine.Registry)) {
	t.Helper()
	checkSpec(t, spec, "input:\n  generate: {value: '1', count: 1}\n"+spec.Example+"\n", registers)
}

func checkSpec(t testing.TB, spec config.Spec, yaml string, registers []func(*engine.Registry)) {
	t.Helper()
	doc := load(t, "example.yaml", yaml)
	if _, err := engine.Build(doc, engine.NewRegistry(registers...), engine.BuildOptions{}); err != nil {
		t.Fatalf("the spec's example does not build: %v\n%s", err, spec.Example)
	}
	checkFields(t, "", spec.Fields)
}

// checkFields wants every field described, with an example or a default to
// show in the docs; an object's fields are checked in turn.
func checkFields(t testing.TB, prefix string, fields []config.Field) {
	t.Helper()
	for _, f := range fields {
		if f.Kind == config.KindObject || f.Kind == config.KindObjectList {
			if f.Description == "" {
				t.Errorf("field %s%s has no description", prefix, f.Name)
			}
			checkFields(t, prefix+f.Name+".", f.Fields)
			continue
		}
		if f.Description == "" || (len(f.Examples) == 0 && f.DefaultValue == nil) {
			t.Errorf("field %s%s lacks a description, or an example or a default", prefix, f.Name)
		}
	}
}
