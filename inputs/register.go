package inputs

import (
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/inputs/file"
	"github.com/pipelinehq/pipeline/inputs/generate"
	"github.com/pipelinehq/pipeline/inputs/kafka"
	"github.com/pipelinehq/pipeline/inputs/mysqlcdc"
	"github.com/pipelinehq/pipeline/inputs/nexmark"
	"github.com/pipelinehq/pipeline/inputs/pgcdc"
	"github.com/pipelinehq/pipeline/inputs/sqlpoll"
	"github.com/pipelinehq/pipeline/inputs/stdin"
)

// Register adds every built-in input to r.
func Register(r *engine.Registry) {
	r.AddInput(kafka.Plugin())
	r.AddInput(file.Plugin())
	r.AddInput(generate.Plugin())
	r.AddInput(nexmark.Plugin())
	r.AddInput(stdin.Plugin())
	r.AddInput(sqlpoll.Plugin())
	r.AddInput(pgcdc.Plugin())
	r.AddInput(mysqlcdc.Plugin())
}
