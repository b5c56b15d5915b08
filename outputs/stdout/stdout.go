package stdout

import (
	"context"
	"errors"
	"io"
	"os"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/outputs/internal/encode"
)

// Plugin is the stdout output type.
func Plugin() engine.OutputPlugin {
	return engine.OutputPlugin{
		Spec: config.Spec{
			Name:        "stdout",
			Summary:     "Writes records to standard output, one line each.",
			Description: "Each batch is written with one unbuffered write call.",
			Fields:      []config.Field{encode.CodecField()},
			Example: `output:
  stdout:
    codec: json_lines`,
		},
		New: func(conf *config.Parsed, res *engine.Resources) (engine.Output, error) {
			return newOutput(conf, os.Stdout)
		},
	}
}

// Output is a running stdout output.
type Output struct {
	w      io.Writer
	enc    *encode.Encoder
	closed bool
}

func newOutput(conf *config.Parsed, w io.Writer) (*Output, error) {
	enc, err := encode.New(conf.String("codec"))
	if err != nil {
		return nil, conf.Errorf("codec", "%v", err)
	}
	return &Output{w: w, enc: enc}, nil
}

// Write writes the records with one write call, leaving out and rejecting
// (engine.RecordsRejected) those the codec cannot encode.
func (o *Output) Write(_ context.Context, records []*engine.Record) error {
	if o.closed {
		return errors.New("stdout output is closed")
	}
	buf, rejected := o.enc.Encode(records)
	if len(buf) > 0 {
		if _, err := o.w.Write(buf); err != nil {
			return err
		}
	}
	return rejected
}

// Close ends the output's writes; standard output itself stays open for
// the process.
func (o *Output) Close(context.Context) error {
	o.closed = true
	return nil
}
