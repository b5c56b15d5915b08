package generate_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/engine/enginetest"
	"github.com/pipelinehq/pipeline/inputs"
	"github.com/pipelinehq/pipeline/inputs/generate"
	"github.com/pipelinehq/pipeline/outputs"
)

func TestConfigErrors(t *testing.T) {
	tests := []struct{ input, want string }{
		{`generate: {count: 3}`, `t.yaml:2:13: input.generate.value: missing required field "value"`},
		{`generate: {value: 'meta.offset +'}`, "t.yaml:2:34: input.generate.value: expression: unexpected token EOF"},
		{`generate: {value: '1', count: -1}`, "t.yaml:2:33: input.generate.count: must be 0 (without end) or more, got -1"},
		{`generate: {value: '1', batch_size: 0}`, "t.yaml:2:38: input.generate.batch_size: must be at least 1, got 0"},
		{`generate: {value: '1', interval: -1s}`, "t.yaml:2:36: input.generate.interval: want a duration of zero or more, got -1s"},
	}
	for _, tt := range tests {
		_, err := enginetest.Build(t, "input:\n  "+tt.input+"\noutput:\n  drop: {}\n", inputs.Register, outputs.Register)
		if err == nil || err.Error() != tt.want {
			t.Errorf("error:\n%v\nwant:\n%s", err, tt.want)
		}
	}
}

func TestPipelineGenerateToDrop(t *testing.T) {
	if err := enginetest.Run(t, 30*time.Second, "input:\n  generate: {value: '{\"id\": meta.offset}', count: 10000}\noutput:\n  drop: {}\n", inputs.Register, outputs.Register); err != nil {
		t.Fatal(err)
	}
}

func TestPipelineGenerateToFile(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.jsonl")
	err := enginetest.Run(t, 30*time.Second, fmt.Sprintf("input:\n  generate: {value: '{\"id\": meta.offset}', count: 1000, batch_size: 64}\noutput:\n  file: {path: %q, codec: json_lines}\n", out), inputs.Register, outputs.Register)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&want, "{\"id\":%d}\n", i)
	}
	if string(got) != want.String() {
		t.Fatalf("output has %d bytes, want %d:\n%.200s", len(got), want.Len(), got)
	}
}

func TestPipelineStopsUnboundedGenerate(t *testing.T) {
	err := enginetest.Run(t, 100*time.Millisecond, "input:\n  generate: {value: '1'}\noutput:\n  drop: {}\n", inputs.Register, outputs.Register)
	if err != nil {
		t.Fatalf("a stopped run: %v", err)
	}
}

func TestSpecExampleBuilds(t *testing.T) {
	enginetest.CheckInputSpec(t, generate.Plugin().Spec, inputs.Register, outputs.Register)
}
