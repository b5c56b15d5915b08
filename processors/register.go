package processors

import "github.com/pipelinehq/pipeline/engine"

// Register adds every built-in processor to r.
func Register(r *engine.Registry) {
}
