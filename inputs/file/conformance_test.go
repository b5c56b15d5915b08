package file_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/conformance"
	"github.com/pipelinehq/pipeline/engine/enginetest"
	"github.com/pipelinehq/pipeline/inputs/file"
)

// TestConformance runs the input suite with each codec. The records are
// spread over two files, two partitions, that the input finds by a glob.
func TestConformance(t *testing.T) {
	for _, codec := range []string{"lines", "json_lines", "csv"} {
		t.Run(codec, func(t *testing.T) {
			conformance.TestInput(t, conformance.InputHarness{
				Bounded:      true,
				NoTombstones: "a line of a file is always a value (json_lines reads null as the JSON value null)",
				Source:       func(t *testing.T) conformance.InputSource { return fileSource(t, codec) },
			})
		})
	}
}

func fileSource(t *testing.T, codec string) conformance.InputSource {
	dir := t.TempDir()
	return conformance.InputSource{
		Put: func(t *testing.T, recs []conformance.Record) []conformance.Record {
			var files [2]bytes.Buffer
			var rows [2]*csv.Writer
			want := conformance.ValuesOnly(recs)
			for i, r := range recs {
				f := &files[i%2]
				if codec != "csv" {
					f.Write(r.Value)
					f.WriteByte('\n')
					continue
				}
				if rows[i%2] == nil {
					rows[i%2] = csv.NewWriter(f)
					rows[i%2].Write([]string{"value"})
				}
				rows[i%2].Write([]string{string(r.Value)})
				// A row reads as an object of header to cell.
				v, err := json.Marshal(map[string]string{"value": string(r.Value)})
				if err != nil {
					t.Fatal(err)
				}
				want[i].Value = v
			}
			for i := range files {
				if rows[i] != nil {
					rows[i].Flush()
				}
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("part-%d.txt", i)), files[i].Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			return want
		},
		New: func(t *testing.T) engine.Input {
			fields := fmt.Sprintf("{paths: [%q], codec: %s, batch_size: 7}", filepath.Join(dir, "*.txt"), codec)
			return enginetest.NewInput(t, file.Plugin(), "in", fields)
		},
	}
}
