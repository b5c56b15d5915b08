package file_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/enginetest"
	"github.com/pipelinehq/pipeline/inputs"
	"github.com/pipelinehq/pipeline/outputs"
	"github.com/pipelinehq/pipeline/outputs/file"
)

func TestConfigErrors(t *testing.T) {
	tests := []struct{ output, want string }{
		{`file: {codec: lines}`, `t.yaml:4:9: output.file.path: missing required field "path"`},
		{`file: {path: ""}`, "t.yaml:4:16: output.file.path: want a file path, got an empty string"},
		{`file: {path: x, codec: csv}`, `t.yaml:4:26: output.file.codec: "csv" is not one of lines, json_lines, envelope`},
		{`file: {path: x, mode: overwrite}`, `t.yaml:4:25: output.file.mode: "overwrite" is not one of append, truncate`},
		{`file: {path: x, sync: yes}`, `t.yaml:4:25: output.file.sync: want true or false, got "yes"`},
	}
	for _, tt := range tests {
		_, err := enginetest.Build(t, "input:\n  generate: {value: '1', count: 1}\noutput:\n  "+tt.output+"\n", inputs.Register, outputs.Register)
		if err == nil || err.Error() != tt.want {
			t.Errorf("error:\n%v\nwant:\n%s", err, tt.want)
		}
	}
}

// failOdd is a processor for this test only: it fails records whose value is
// an odd number, as a processor that cannot handle a record would.
type failOdd struct{}

func (failOdd) Process(_ context.Context, b *engine.Batch) error {
	kept := b.Records[:0]
	for _, r := range b.Records {
		v, err := r.Value()
		if err != nil {
			return err
		}
		if n, _ := engine.ToInt64(v); n%2 == 1 {
			b.Fail(r, fmt.Errorf("%d is odd", n))
			continue
		}
		kept = append(kept, r)
	}
	b.Records = kept
	return nil
}

// TestDeadLetterEnvelope runs a pipeline whose failed records go to a
// dead-letter file in the envelope codec, which shows their error headers.
func TestDeadLetterEnvelope(t *testing.T) {
	dir := t.TempDir()
	out, dead := filepath.Join(dir, "out.txt"), filepath.Join(dir, "dead", "dead.jsonl")
	yaml := fmt.Sprintf(`
input:
  generate: {value: 'meta.offset', count: 4}
pipeline:
  processors:
    - fail_odd: {}
output:
  file: {path: %q}
on_error: dead_letter
dead_letter:
  file: {path: %q, codec: envelope}
`, out, dead)
	testProcessors := func(r *engine.Registry) {
		r.AddProcessor(engine.ProcessorPlugin{
			Spec: config.Spec{Name: "fail_odd", Summary: "test"},
			New:  func(*config.Parsed, *engine.Resources) (engine.Processor, error) { return failOdd{}, nil },
		})
	}
	if err := enginetest.Run(t, 30*time.Second, yaml, inputs.Register, testProcessors, outputs.Register); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	if string(got) != "0\n2\n" {
		t.Fatalf("output holds %q", got)
	}
	got, _ = os.ReadFile(dead)
	re := regexp.MustCompile(`"timestamp":\d+`)
	want := `{"key":null,"value":1,"headers":{"error":"1 is odd","error_component":"pipeline.processors.0","error_source":"record at generate:1"},"timestamp":T}
{"key":null,"value":3,"headers":{"error":"3 is odd","error_component":"pipeline.processors.0","error_source":"record at generate:3"},"timestamp":T}
`
	if s := re.ReplaceAllString(string(got), `"timestamp":T`); s != want {
		t.Fatalf("dead letters:\n%s\nwant:\n%s", s, want)
	}
}

func TestSpecExampleBuilds(t *testing.T) {
	enginetest.CheckOutputSpec(t, file.Plugin().Spec, inputs.Register, outputs.Register)
}
