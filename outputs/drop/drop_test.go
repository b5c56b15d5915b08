package drop_test

import (
	"context"
	"testing"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/enginetest"
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
		p, err := enginetest.Build(t, "input:\n  generate: {value: '1', count: 3}\noutput:\n  "+tt.output+"\n", inputs.Register, outputs.Register)
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
	enginetest.CheckOutputSpec(t, drop.Plugin().Spec, inputs.Register, outputs.Register)
}
