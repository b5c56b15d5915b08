package inputs

import "github.com/pipelinehq/pipeline/engine"

// Register adds every built-in input to r.
func Register(r *engine.Registry) {
}
