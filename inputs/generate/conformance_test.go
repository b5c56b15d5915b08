package generate_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/conformance"
	"github.com/pipelinehq/pipeline/engine/enginetest"
	"github.com/pipelinehq/pipeline/inputs/generate"
)

// TestConformance: the generator makes the suite's records from a list of
// their values (nil for a tombstone) indexed by meta.offset.
func TestConformance(t *testing.T) {
	conformance.TestInput(t, conformance.InputHarness{
		Bounded: true,
		Source: func(t *testing.T) conformance.InputSource {
			var fields string
			return conformance.InputSource{
				Put: func(t *testing.T, recs []conformance.Record) []conformance.Record {
					values := make([]string, len(recs))
					for i, r := range recs {
						values[i] = "nil"
						if r.Value != nil {
							values[i] = fmt.Sprintf("%q", r.Value)
						}
					}
					expr, err := json.Marshal("[" + strings.Join(values, ", ") + "][meta.offset]")
					if err != nil {
						t.Fatal(err)
					}
					fields = fmt.Sprintf("{value: %s, count: %d, batch_size: 7}", expr, len(recs))
					return conformance.ValuesOnly(recs)
				},
				New: func(t *testing.T) engine.Input {
					return enginetest.NewInput(t, generate.Plugin(), "in", fields)
				},
			}
		},
	})
}
