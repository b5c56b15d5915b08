package stdout_test

import (
	"testing"

	"github.com/pipelinehq/pipeline/engine/enginetest"
	"github.com/pipelinehq/pipeline/inputs"
	"github.com/pipelinehq/pipeline/outputs"
	"github.com/pipelinehq/pipeline/outputs/stdout"
)

func TestSpecExampleBuilds(t *testing.T) {
	enginetest.CheckOutputSpec(t, stdout.Plugin().Spec, inputs.Register, outputs.Register)
}
