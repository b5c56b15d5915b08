package drop

import (
	"context"
	"errors"

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
		New: func(*config.Parsed, *engine.Resources) (engine.Output, error) { return &Output{}, nil },
	}
}

// Output discards records.
type Output struct{ closed bool }

// Write discards the records.
func (o *Output) Write(context.Context, []*engine.Record) error {
	if o.closed {
		return errClosed
	}
	return nil
}

// Close makes later writes fail, as a sink that is gone would.
func (o *Output) Close(context.Context) error {
	o.closed = true
	return nil
}

var errClosed = errors.New("drop output is closed")
