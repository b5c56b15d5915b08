package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/enginetest"
)

// newInput builds the input from the YAML of its fields.
func newInput(t *testing.T, fields string) *Input {
	t.Helper()
	return enginetest.NewInput(t, Plugin(), "src", fields).(*Input)
}

func writeFiles(t *testing.T, files map[string]string) {
	t.Helper()
	for name, content := range files {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// batch is what a test sees of an input batch.
type batch struct {
	partition, position string
	values              []string
	offsets             []int64
}

func (b batch) String() string {
	return fmt.Sprintf("%s@%s %q %v", b.partition, b.position, b.values, b.offsets)
}

func describe(t *testing.T, b engine.InputBatch, wantJSON bool) batch {
	t.Helper()
	off, err := b.Position.Int(fieldOffset)
	if err != nil {
		t.Fatal(err)
	}
	d := batch{partition: b.Partition, position: fmt.Sprint(off)}
	for _, r := range b.Records {
		v, err := r.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if r.IsJSON() != wantJSON {
			t.Fatalf("record %s: IsJSON = %v", r.Describe(), r.IsJSON())
		}
		if r.Source == nil || r.Source.Partition != b.Partition || r.Source.Input != "src" || r.Source.Meta["path"] != b.Partition {
			t.Fatalf("record %s: source %+v", r.Describe(), r.Source)
		}
		if r.Timestamp == 0 {
			t.Fatalf("record %s: no timestamp", r.Describe())
		}
		d.values = append(d.values, string(v))
		d.offsets = append(d.offsets, r.Offset)
	}
	return d
}

// readAll reads until EOF or an error. The values are described only at the
// end, so that a reader reusing a buffer would show.
func readAll(t *testing.T, in *Input, wantJSON bool) ([]batch, error) {
	t.Helper()
	ctx := context.Background()
	if err := in.Start(ctx); err != nil {
		return nil, err
	}
	defer in.Close(ctx)
	var raw []engine.InputBatch
	var err error
	for {
		var b engine.InputBatch
		b, err = in.Read(ctx)
		if err != nil {
			break
		}
		raw = append(raw, b)
	}
	var out []batch
	for _, b := range raw {
		out = append(out, describe(t, b, wantJSON))
	}
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return out, err
}

func TestRead(t *testing.T) {
	tests := []struct {
		name   string
		files  map[string]string
		fields string
		json   bool
		want   []batch
		err    string
	}{
		{
			name:   "lines",
			files:  map[string]string{"a.txt": "one\ntwo\r\n\nfour"},
			fields: `{paths: [a.txt]}`,
			want:   []batch{{"a.txt", "14", []string{"one", "two", "", "four"}, []int64{1, 2, 3, 4}}},
		},
		{
			name:   "lines in batches",
			files:  map[string]string{"a.txt": "1\n2\n3\n4\n5\n"},
			fields: `{paths: [a.txt], batch_size: 2}`,
			want: []batch{
				{"a.txt", "4", []string{"1", "2"}, []int64{1, 2}},
				{"a.txt", "8", []string{"3", "4"}, []int64{3, 4}},
				{"a.txt", "10", []string{"5"}, []int64{5}},
			},
		},
		{
			name:   "batch ends at end of file",
			files:  map[string]string{"a.txt": "1\n2\n"},
			fields: `{paths: [a.txt], batch_size: 2}`,
			want:   []batch{{"a.txt", "4", []string{"1", "2"}, []int64{1, 2}}},
		},
		{
			name:   "empty file",
			files:  map[string]string{"a.txt": ""},
			fields: `{paths: [a.txt]}`,
		},
		{
			name:   "json lines skip blank lines",
			files:  map[string]string{"a.jsonl": "{\"a\":1}\n\n  \n[1, 2]\r\n\"s\"\n"},
			fields: `{paths: [a.jsonl], codec: json_lines}`,
			json:   true,
			want:   []batch{{"a.jsonl", "24", []string{`{"a":1}`, `[1, 2]`, `"s"`}, []int64{1, 4, 5}}},
		},
		{
			name:   "json lines are not decoded",
			files:  map[string]string{"a.jsonl": "{not json\n"},
			fields: `{paths: [a.jsonl], codec: json_lines}`,
			json:   true,
			want:   []batch{{"a.jsonl", "10", []string{`{not json`}, []int64{1}}},
		},
		{
			name: "files one after another, globs sorted, each file once",
			files: map[string]string{
				"logs/b.log": "b1\nb2\n", "logs/a.log": "a1\n", "first.txt": "f1\n", "logs/sub/c.log": "no\n",
			},
			fields: `{paths: [first.txt, "logs/*.log", logs/a.log], batch_size: 10}`,
			want: []batch{
				{"first.txt", "3", []string{"f1"}, []int64{1}},
				{"logs/a.log", "3", []string{"a1"}, []int64{1}},
				{"logs/b.log", "6", []string{"b1", "b2"}, []int64{1, 2}},
			},
		},
		{
			name:   "glob skips directories",
			files:  map[string]string{"d/x/keep": "", "d/y": "y\n"},
			fields: `{paths: ["d/*"]}`,
			want:   []batch{{"d/y", "2", []string{"y"}, []int64{1}}},
		},
		{
			name:   "csv",
			files:  map[string]string{"a.csv": "id,name\n1,ann\n2,\"bob, jr\"\n"},
			fields: `{paths: [a.csv], codec: csv}`,
			json:   true,
			want:   []batch{{"a.csv", "26", []string{`{"id":"1","name":"ann"}`, `{"id":"2","name":"bob, jr"}`}, []int64{2, 3}}},
		},
		{
			name:   "csv multi-line cell, crlf, semicolon, batches",
			files:  map[string]string{"a.csv": "k;v\r\n1;\"x\r\ny\"\r\n2;z\r\n3;w"},
			fields: `{paths: [a.csv], codec: csv, csv_delimiter: ";", batch_size: 2}`,
			json:   true,
			want: []batch{
				{"a.csv", "20", []string{`{"k":"1","v":"x\ny"}`, `{"k":"2","v":"z"}`}, []int64{2, 4}},
				{"a.csv", "23", []string{`{"k":"3","v":"w"}`}, []int64{5}},
			},
		},
		{
			name:   "csv header only and empty file",
			files:  map[string]string{"a.csv": "a,b\n", "b.csv": ""},
			fields: `{paths: [a.csv, b.csv], codec: csv}`,
		},
		{
			name:   "csv wrong number of cells",
			files:  map[string]string{"a.csv": "a,b\n1,2\n3\n"},
			fields: `{paths: [a.csv], codec: csv}`,
			err:    "a.csv:3: row has 1 cells, the header has 2",
		},
		{
			name:   "csv syntax error",
			files:  map[string]string{"a.csv": "a,b\n1,x\"y\n"},
			fields: `{paths: [a.csv], codec: csv}`,
			err:    "a.csv:2:4: bare \" in non-quoted-field",
		},
		{
			name:   "csv duplicate header",
			files:  map[string]string{"a.csv": "a,a\n1,2\n"},
			fields: `{paths: [a.csv], codec: csv}`,
			err:    `a.csv:1: column "a" appears twice in the header`,
		},
		{
			name:   "csv line too long",
			files:  map[string]string{"a.csv": "a,b\n1,2\n\"" + strings.Repeat("x", 100) + "\n"},
			fields: `{paths: [a.csv], codec: csv, max_line_size: 16}`,
			err:    "a.csv:3: line is longer than max_line_size (16 bytes)",
		},
		{
			name:   "line too long",
			files:  map[string]string{"first.txt": "ok\n", "a.txt": "1234\n12345\n"},
			fields: `{paths: [first.txt, a.txt], max_line_size: 4}`,
			err:    "a.txt:2: line is longer than max_line_size (4 bytes)",
		},
		{
			name:   "pattern matches nothing",
			files:  map[string]string{"a.txt": "a\n"},
			fields: "paths:\n  - a.txt\n  - \"*.json\"\n",
			err:    `t.yaml:3:5: input.file.paths.1: pattern "*.json" matches no file`,
		},
		{
			name:   "missing file",
			fields: "paths: [nope.txt]",
			err:    `t.yaml:1:9: input.file.paths.0: file "nope.txt" does not exist`,
		},
		{
			name:   "directory",
			files:  map[string]string{"d/x": ""},
			fields: "paths: [d]",
			err:    `t.yaml:1:9: input.file.paths.0: "d" is a directory`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			writeFiles(t, tt.files)
			got, err := readAll(t, newInput(t, tt.fields), tt.json)
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || err.Error() != tt.err) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
			if tt.err != "" {
				return
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
}

// TestReadLarge reads a file far bigger than one read chunk, with lines of
// every length crossing chunk boundaries, and checks every line.
func TestReadLarge(t *testing.T) {
	t.Chdir(t.TempDir())
	var b strings.Builder
	var want []string
	for i := range 40000 {
		l := fmt.Sprintf(`{"i":%d,"pad":"%s"}`, i, strings.Repeat("p", i%300))
		want = append(want, l)
		b.WriteString(l + "\n")
	}
	writeFiles(t, map[string]string{"big.jsonl": b.String()})
	got, err := readAll(t, newInput(t, `{paths: [big.jsonl], codec: json_lines, batch_size: 1000}`), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 40 {
		t.Fatalf("%d batches, want 40", len(got))
	}
	var n int
	for _, bt := range got {
		for j, v := range bt.values {
			if v != want[n] || bt.offsets[j] != int64(n+1) {
				t.Fatalf("record %d: %q at %d, want %q", n, v, bt.offsets[j], want[n])
			}
			n++
		}
	}
	if last := got[len(got)-1].position; last != fmt.Sprint(b.Len()) {
		t.Fatalf("last position %s, want %d", last, b.Len())
	}
}

func TestReadCancelledAndClosed(t *testing.T) {
	t.Chdir(t.TempDir())
	writeFiles(t, map[string]string{"a.txt": "1\n2\n"})
	in := newInput(t, `{paths: [a.txt], batch_size: 1}`)
	ctx, cancel := context.WithCancel(context.Background())
	if err := in.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Read(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := in.Read(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Read after cancel: %v", err)
	}
	if err := in.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := in.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := in.Read(context.Background()); err == nil || err.Error() != "file input is closed" {
		t.Fatalf("Read after Close: %v", err)
	}
}

// BenchmarkReadJSONLines measures the input alone on the benchmark's shape.
func BenchmarkReadJSONLines(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "in.jsonl")
	var sb strings.Builder
	for i := range 200000 {
		fmt.Fprintf(&sb, `{"id":%d,"name":"user-%d","score":%d,"tags":["a","b"]}`+"\n", i, i, i%100)
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(sb.Len()))
	b.ReportAllocs()
	ctx := context.Background()
	for b.Loop() {
		var doc yaml.Node
		_ = yaml.Unmarshal([]byte(fmt.Sprintf(`{paths: [%q], codec: json_lines}`, path)), &doc)
		conf, _ := config.Parse("b.yaml", "input.file", doc.Content[0], Plugin().Spec.Fields)
		in, _ := New(conf, &engine.Resources{Label: "b"})
		_ = in.(*Input).Start(ctx)
		n := 0
		for {
			batch, err := in.Read(ctx)
			if err != nil {
				break
			}
			n += len(batch.Records)
		}
		in.Close(ctx)
		if n != 200000 {
			b.Fatalf("%d records", n)
		}
	}
}
