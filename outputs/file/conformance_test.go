package file_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/conformance"
	"github.com/pipelinehq/pipeline/engine/enginetest"
	"github.com/pipelinehq/pipeline/outputs/file"
)

// TestConformance runs the output suite with each codec; the file is read
// back as the codec wrote it.
func TestConformance(t *testing.T) {
	for _, codec := range []string{conformance.CodecLines, conformance.CodecJSONLines, conformance.CodecEnvelope} {
		t.Run(codec, func(t *testing.T) {
			keys, headers, timestamps := conformance.LineKeeps(codec)
			conformance.TestOutput(t, conformance.OutputHarness{
				KeepsKeys: keys, KeepsHeaders: headers, KeepsTimestamps: timestamps,
				TombstoneValue: conformance.LineTombstone(codec),
				Unwritable:     conformance.UnencodableRecord,
				Sink: func(t *testing.T) conformance.OutputSink {
					path := filepath.Join(t.TempDir(), "out", "records.txt")
					return conformance.OutputSink{
						New: func(t *testing.T) engine.Output {
							return enginetest.NewOutput(t, file.Plugin(), "out", fmt.Sprintf("{path: %q, codec: %s}", path, codec))
						},
						ReadBack: func(t *testing.T, n int) []conformance.Record {
							data, err := os.ReadFile(path)
							if err != nil {
								t.Fatal(err)
							}
							return conformance.DecodeLines(t, codec, data)
						},
					}
				},
			})
		})
	}
}
