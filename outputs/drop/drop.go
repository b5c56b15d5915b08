package drop

import (
	"context"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
)

// Plugin is the drop output type.
func Plugin() engine.OutputPlugin {
	return engine.OutputPlugin{
		Spec: config.Spec{
			Name:        "drop",
			Summary:     "Discards every record.",
			Description: "Records count as written at once, so their input positions are committed. Useful for benchmarks.",
			Example: `output:
  drop: {}`,
		},
		New: func(*config.Parsed, *engine.Resources) (engine.Output, error) { return Output{}, nil },
	}
}

// Output discards records.
type Output struct{}

// Write discards the records.
func (Output) Write(context.Context, []*engine.Record) error { return nil }

// Close does nothing.
func (Output) Close(context.Context) error { return nil }
