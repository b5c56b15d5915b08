package drop_test

import (
	"context"
	"testing"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/inputs"
	"github.com/pipelinehq/pipeline/outputs"
	"github.com/pipelinehq/pipeline/outputs/drop"
)

func TestDrop(t *testing.T) {
	o, err := drop.Plugin().New(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Write(context.Background(), []*engine.Record{engine.NewRecord([]byte("x"), engine.Text)}); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestConfig(t *testing.T) {
	tests := []struct{ output, want string }{
		{"drop: {}", ""},
		{"drop: ~", ""},
		{"drop: {codec: lines}", `t.yaml:4:10: output.drop.codec: unknown field "codec"`},
	}
	for _, tt := range tests {
		doc, err := config.Load("t.yaml", []byte("input:\n  generate: {value: '1', count: 3}\noutput:\n  "+tt.output+"\n"), config.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p, err := engine.Build(doc, engine.NewRegistry(inputs.Register, outputs.Register), engine.BuildOptions{})
		if tt.want != "" {
			if err == nil || err.Error() != tt.want {
				t.Errorf("%s: error %v, want %s", tt.output, err, tt.want)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.output, err)
		}
		if err := p.Run(context.Background()); err != nil {
			t.Fatalf("%s: run: %v", tt.output, err)
		}
	}
}

func TestSpecExampleBuilds(t *testing.T) {
	spec := drop.Plugin().Spec
	doc, err := config.Load("example.yaml", []byte("input:\n  generate: {value: '1', count: 1}\n"+spec.Example+"\n"), config.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := engine.Build(doc, engine.NewRegistry(inputs.Register, outputs.Register), engine.BuildOptions{}); err != nil {
		t.Fatalf("the spec's example does not build: %v\n%s", err, spec.Example)
	}
	for _, f := range spec.Fields {
		if f.Description == "" || len(f.Examples) == 0 || (f.DefaultValue == nil && !f.IsRequired) {
			t.Errorf("field %s lacks a description, an example or a default", f.Name)
		}
	}
}
