package drop_test

import (
	"testing"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/conformance"
	"github.com/pipelinehq/pipeline/engine/enginetest"
	"github.com/pipelinehq/pipeline/outputs/drop"
)

// TestConformance: what drop wrote cannot be read back, so the checks that
// read back are skipped.
func TestConformance(t *testing.T) {
	conformance.TestOutput(t, conformance.OutputHarness{
		Sink: func(t *testing.T) conformance.OutputSink {
			return conformance.OutputSink{
				New: func(t *testing.T) engine.Output { return enginetest.NewOutput(t, drop.Plugin(), "out", "{}") },
			}
		},
	})
}
