package processors

import (
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/processors/aggregate"
	"github.com/pipelinehq/pipeline/processors/branch"
	"github.com/pipelinehq/pipeline/processors/filter"
	"github.com/pipelinehq/pipeline/processors/flatmap"
	"github.com/pipelinehq/pipeline/processors/join"
	"github.com/pipelinehq/pipeline/processors/log"
	"github.com/pipelinehq/pipeline/processors/mapping"
	"github.com/pipelinehq/pipeline/processors/streamjoin"
	"github.com/pipelinehq/pipeline/processors/tablejoin"
)

// Register adds every built-in processor to r.
func Register(r *engine.Registry) {
	r.AddProcessor(aggregate.Plugin())
	r.AddProcessor(branch.Plugin())
	r.AddProcessor(filter.Plugin())
	r.AddProcessor(flatmap.Plugin())
	r.AddProcessor(join.Plugin())
	r.AddProcessor(log.Plugin())
	r.AddProcessor(mapping.Plugin())
	r.AddProcessor(streamjoin.Plugin())
	r.AddProcessor(tablejoin.Plugin())
}
