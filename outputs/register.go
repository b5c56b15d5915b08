package outputs

import "github.com/pipelinehq/pipeline/engine"

// Register adds every built-in output to r.
func Register(r *engine.Registry) {
}
