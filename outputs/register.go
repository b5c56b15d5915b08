package outputs

import (
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/outputs/drop"
	"github.com/pipelinehq/pipeline/outputs/file"
	"github.com/pipelinehq/pipeline/outputs/kafka"
	"github.com/pipelinehq/pipeline/outputs/sqlsink"
	"github.com/pipelinehq/pipeline/outputs/stdout"
)

// Register adds every built-in output to r.
func Register(r *engine.Registry) {
	r.AddOutput(kafka.Plugin())
	r.AddOutput(drop.Plugin())
	r.AddOutput(file.Plugin())
	r.AddOutput(stdout.Plugin())
	r.AddOutput(sqlsink.Plugin())
}
