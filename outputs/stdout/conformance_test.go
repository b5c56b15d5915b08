package stdout

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/conformance"
	"github.com/pipelinehq/pipeline/engine/enginetest"
)

// TestConformance runs the output suite with each codec, standard output
// swapped for a buffer that is read back as the codec wrote it.
func TestConformance(t *testing.T) {
	for _, codec := range []string{conformance.CodecLines, conformance.CodecJSONLines, conformance.CodecEnvelope} {
		t.Run(codec, func(t *testing.T) {
			keys, headers, timestamps := conformance.LineKeeps(codec)
			conformance.TestOutput(t, conformance.OutputHarness{
				KeepsKeys: keys, KeepsHeaders: headers, KeepsTimestamps: timestamps,
				TombstoneValue: conformance.LineTombstone(codec),
				Unwritable:     conformance.UnencodableRecord,
				Sink: func(t *testing.T) conformance.OutputSink {
					var buf bytes.Buffer
					return conformance.OutputSink{
						New: func(t *testing.T) engine.Output {
							conf := enginetest.ParseFields(t, "output", Plugin().Spec, fmt.Sprintf("{codec: %s}", codec))
							out, err := newOutput(conf, &buf)
							if err != nil {
								t.Fatal(err)
							}
							return out
						},
						ReadBack: func(t *testing.T, n int) []conformance.Record {
							return conformance.DecodeLines(t, codec, buf.Bytes())
						},
					}
				},
			})
		})
	}
}
