package file_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/enginetest"
	"github.com/pipelinehq/pipeline/inputs"
	"github.com/pipelinehq/pipeline/inputs/file"
	"github.com/pipelinehq/pipeline/outputs"
)

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name, input, want string
	}{
		{"no paths", `file: {paths: []}`, "t.yaml:2:17: input.file.paths: want at least one path"},
		{"missing paths", `file: {codec: lines}`, `t.yaml:2:9: input.file.paths: missing required field "paths"`},
		{"bad glob", "file:\n    paths:\n      - ok.txt\n      - \"logs/[a-\"",
			`t.yaml:5:9: input.file.paths.1: invalid glob pattern "logs/[a-": syntax error in pattern`},
		{"empty path", `file: {paths: [""]}`, "t.yaml:2:18: input.file.paths.0: want a path, got an empty string"},
		{"bad codec", `file: {paths: [a], codec: xml}`, `t.yaml:2:29: input.file.codec: "xml" is not one of lines, json_lines, csv`},
		{"batch size", `file: {paths: [a], batch_size: 0}`, "t.yaml:2:34: input.file.batch_size: must be at least 1, got 0"},
		{"max line size", `file: {paths: [a], max_line_size: 0}`, "t.yaml:2:37: input.file.max_line_size: must be at least 1 byte"},
		{"delimiter without csv", `file: {paths: [a], csv_delimiter: ";"}`,
			"t.yaml:2:37: input.file.csv_delimiter: csv_delimiter applies only to codec csv (codec is lines)"},
		{"long delimiter", `file: {paths: [a], codec: csv, csv_delimiter: "ab"}`,
			`t.yaml:2:49: input.file.csv_delimiter: want one character, got "ab"`},
		{"quote delimiter", `file: {paths: [a], codec: csv, csv_delimiter: '"'}`,
			`t.yaml:2:49: input.file.csv_delimiter: "\"" cannot be a delimiter`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := enginetest.Build(t, "input:\n  "+tt.input+"\noutput:\n  drop: {}\n", inputs.Register, outputs.Register)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error:\n%v\nwant:\n%s", err, tt.want)
			}
		})
	}
}

func TestConstructorHasNoSideEffects(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "sub", "out.txt")
	_, err := enginetest.Build(t, fmt.Sprintf("input:\n  file: {paths: [%q]}\noutput:\n  file: {path: %q}\n", filepath.Join(dir, "missing*.txt"), out), inputs.Register, outputs.Register)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "sub")); !os.IsNotExist(err) {
		t.Fatalf("building created the output's directory: %v", err)
	}
}

// TestPipelineCopiesFile runs file → file for each codec pairing that must
// reproduce its input byte for byte.
func TestPipelineCopiesFile(t *testing.T) {
	var jsonl strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&jsonl, `{"id":%d,"name":"n%d","tags":["x","<&>"],"nested":{"ok":true}}`+"\n", i, i)
	}
	var text strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&text, "line %d with \"quotes\" and a tab\t%s\n", i, strings.Repeat("é", i%7))
	}
	tests := []struct {
		name, in, inCodec, outCodec string
	}{
		{"json lines", jsonl.String(), "json_lines", "json_lines"},
		{"json lines as lines", jsonl.String(), "json_lines", "lines"},
		{"lines", text.String(), "lines", "lines"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out", "out.txt")
			if err := os.WriteFile(in, []byte(tt.in), 0o644); err != nil {
				t.Fatal(err)
			}
			err := enginetest.Run(t, 30*time.Second, fmt.Sprintf(`
input:
  file: {paths: [%q], codec: %s, batch_size: 100}
output:
  file: {path: %q, codec: %s}
`, in, tt.inCodec, out, tt.outCodec), inputs.Register, outputs.Register)
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.in {
				t.Fatalf("output differs from input: %d bytes, want %d", len(got), len(tt.in))
			}
		})
	}
}

func TestPipelineCSVToJSONLines(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.csv"), filepath.Join(dir, "out.jsonl")
	if err := os.WriteFile(in, []byte("city,pop\nParis,2100000\n\"Lyon, FR\",520000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := enginetest.Run(t, 30*time.Second, fmt.Sprintf("input:\n  file: {paths: [%q], codec: csv}\noutput:\n  file: {path: %q, codec: json_lines, mode: truncate}\n", in, out), inputs.Register, outputs.Register)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	want := `{"city":"Paris","pop":"2100000"}` + "\n" + `{"city":"Lyon, FR","pop":"520000"}` + "\n"
	if string(got) != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestPipelineStopsOnReadError(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	if err := os.WriteFile(in, []byte("ok\nmuch too long\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := enginetest.Run(t, 30*time.Second, fmt.Sprintf("input:\n  file: {paths: [%q], max_line_size: 8}\noutput:\n  drop: {}\n", in), inputs.Register, outputs.Register)
	want := fmt.Sprintf("input: %s:2: line is longer than max_line_size (8 bytes)", in)
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
}

func TestPipelineStartError(t *testing.T) {
	dir := t.TempDir()
	pattern := filepath.Join(dir, "*.json")
	err := enginetest.Run(t, 30*time.Second, fmt.Sprintf("input:\n  file:\n    paths: [%q]\noutput:\n  drop: {}\n", pattern), inputs.Register, outputs.Register)
	want := fmt.Sprintf("input: start: t.yaml:3:13: input.file.paths.0: pattern %q matches no file", pattern)
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
}

// BenchmarkPipelineCopy runs 200k JSON lines file → file through the engine,
// beside a hand-written bufio loop copying the same lines as a baseline.
func BenchmarkPipelineCopy(b *testing.B) {
	dir := b.TempDir()
	in, out := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "out.jsonl")
	var sb strings.Builder
	for i := range 200000 {
		fmt.Fprintf(&sb, `{"id":%d,"name":"user-%d","score":%d,"tags":["a","b"]}`+"\n", i, i, i%100)
	}
	if err := os.WriteFile(in, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	b.Run("pipeline", func(b *testing.B) {
		b.SetBytes(int64(sb.Len()))
		for b.Loop() {
			doc, _ := config.Load("b.yaml", []byte(fmt.Sprintf("input:\n  file: {paths: [%q], codec: json_lines}\noutput:\n  file: {path: %q, codec: json_lines, mode: truncate}\n", in, out)), config.LoadOptions{})
			p, err := engine.Build(doc, engine.NewRegistry(inputs.Register, outputs.Register), engine.BuildOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if err := p.Run(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bufio", func(b *testing.B) {
		b.SetBytes(int64(sb.Len()))
		for b.Loop() {
			f, _ := os.Open(in)
			o, _ := os.Create(out)
			sc := bufio.NewScanner(f)
			w := bufio.NewWriterSize(o, 64<<10)
			for sc.Scan() {
				w.Write(sc.Bytes())
				w.WriteByte('\n')
			}
			w.Flush()
			o.Close()
			f.Close()
		}
	})
}

func TestSpecExampleBuilds(t *testing.T) {
	enginetest.CheckInputSpec(t, file.Plugin().Spec, inputs.Register, outputs.Register)
}
