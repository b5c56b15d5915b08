package stdin_test

import (
	"testing"

	"github.com/pipelinehq/pipeline/engine/enginetest"
	"github.com/pipelinehq/pipeline/inputs"
	"github.com/pipelinehq/pipeline/inputs/stdin"
	"github.com/pipelinehq/pipeline/outputs"
)

func TestConfigErrors(t *testing.T) {
	tests := []struct{ input, want string }{
		{`stdin: {batch_size: 0}`, "t.yaml:2:23: input.stdin.batch_size: must be at least 1, got 0"},
		{`stdin: {codec: csv}`, `t.yaml:2:18: input.stdin.codec: "csv" is not one of lines, json_lines`},
		{`stdin: {max_line_size: 0}`, "t.yaml:2:26: input.stdin.max_line_size: must be at least 1 byte"},
	}
	for _, tt := range tests {
		_, err := enginetest.Build(t, "input:\n  "+tt.input+"\noutput:\n  drop: {}\n", inputs.Register, outputs.Register)
		if err == nil || err.Error() != tt.want {
			t.Errorf("error:\n%v\nwant:\n%s", err, tt.want)
		}
	}
	if _, err := enginetest.Build(t, "input:\n  stdin: {}\noutput:\n  drop: {}\n", inputs.Register, outputs.Register); err != nil {
		t.Fatalf("defaults: %v", err)
	}
}

func TestSpecExampleBuilds(t *testing.T) {
	enginetest.CheckInputSpec(t, stdin.Plugin().Spec, inputs.Register, outputs.Register)
}
