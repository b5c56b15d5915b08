package engine

import (
	"errors"
	"fmt"
)

// Ready reports whether the pipeline, once running, can make progress: nil,
// or why not, naming each component that says it cannot
// (ReadinessReporter).
func (p *Pipeline) Ready() error {
	var errs []error
	report := func(path string, c any) {
		if r, ok := c.(ReadinessReporter); ok {
			if err := r.Ready(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", path, err))
			}
		}
	}
	for _, in := range p.inputs {
		report(in.path, in.input)
	}
	for _, out := range p.outputs {
		report(out.path, out.output)
	}
	return errors.Join(errs...)
}
