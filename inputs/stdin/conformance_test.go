package stdin

import (
	"bytes"
	"fmt"
	"os"
	"testing"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/conformance"
	"github.com/pipelinehq/pipeline/engine/enginetest"
)

// TestConformance runs the input suite with each codec. Standard input is
// a pipe its writer closed, as in `cat file | pipeline run`, or one its
// writer keeps open (a terminal, a producer still running): then the
// input has no end.
func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name, codec string
		open        bool
	}{
		{"lines", "lines", false},
		{"json_lines", "json_lines", false},
		{"lines_open", "lines", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conformance.TestInput(t, conformance.InputHarness{
				Bounded:      !tc.open,
				NoTombstones: "a line of standard input is always a value (json_lines reads null as the JSON value null)",
				Source:       func(t *testing.T) conformance.InputSource { return stdinSource(tc.codec, tc.open) },
			})
		})
	}
}

// stdinSource is standard input; open keeps the pipe's writer open until
// the test ends.
func stdinSource(codec string, open bool) conformance.InputSource {
	var data bytes.Buffer
	return conformance.InputSource{
		Put: func(t *testing.T, recs []conformance.Record) []conformance.Record {
			for _, r := range recs {
				data.Write(r.Value)
				data.WriteByte('\n')
			}
			return conformance.ValuesOnly(recs)
		},
		New: func(t *testing.T) engine.Input {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close() })
			// Less than a pipe's buffer: the write does not wait for a reader.
			if data.Len() > 16<<10 {
				t.Fatalf("%d bytes do not fit a pipe's buffer", data.Len())
			}
			_, err = w.Write(data.Bytes())
			if open {
				t.Cleanup(func() { w.Close() })
			} else if cerr := w.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatal(err)
			}
			conf := enginetest.ParseFields(t, "input", Plugin().Spec, fmt.Sprintf("{codec: %s, batch_size: 7}", codec))
			in, err := newInput(conf, &engine.Resources{Label: "in"}, r)
			if err != nil {
				t.Fatal(err)
			}
			return in
		},
	}
}
