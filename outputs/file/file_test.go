package file

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/enginetest"
)

func newOutput(t *testing.T, fields string) *Output {
	t.Helper()
	return enginetest.NewOutput(t, Plugin(), "out", fields).(*Output)
}

func records(values ...string) []*engine.Record {
	var recs []*engine.Record
	for _, v := range values {
		format := engine.Text
		if strings.HasPrefix(v, "{") {
			format = engine.JSON
		}
		recs = append(recs, engine.NewRecord([]byte(v), format))
	}
	return recs
}

func TestWrite(t *testing.T) {
	tests := []struct {
		name, fields, existing string
		batches                [][]string
		want                   string
	}{
		{name: "lines", fields: "{codec: lines}", batches: [][]string{{"a", `{"b":1}`}, {"c"}},
			want: "a\n{\"b\":1}\nc\n"},
		{name: "json lines", fields: "{codec: json_lines}", batches: [][]string{{"a", `{"b":1}`}},
			want: "\"a\"\n{\"b\":1}\n"},
		{name: "envelope", fields: "{codec: envelope}", batches: [][]string{{"a"}},
			want: "{\"key\":null,\"value\":\"a\",\"timestamp\":0}\n"},
		{name: "append is the default", fields: "{}", existing: "old\n", batches: [][]string{{"new"}},
			want: "old\nnew\n"},
		{name: "truncate", fields: "{mode: truncate}", existing: "old\n", batches: [][]string{{"new"}},
			want: "new\n"},
		{name: "sync", fields: "{sync: true}", batches: [][]string{{"x"}, {"y"}},
			want: "x\ny\n"},
		{name: "empty batch", fields: "{}", batches: [][]string{{}},
			want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "a", "b", "out.txt")
			if tt.existing != "" {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(tt.existing), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			o := newOutput(t, strings.Replace(tt.fields, "{", "{path: "+path+", ", 1))
			ctx := context.Background()
			if err := o.Start(ctx); err != nil {
				t.Fatal(err)
			}
			for _, b := range tt.batches {
				if err := o.Write(ctx, records(b...)); err != nil {
					t.Fatal(err)
				}
				// Written means handed to the OS: readable before Close.
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("file holds %q, want %q", got, tt.want)
			}
			if err := o.Close(ctx); err != nil {
				t.Fatal(err)
			}
			if err := o.Close(ctx); err != nil {
				t.Fatalf("second Close: %v", err)
			}
		})
	}
}

func TestWriteErrors(t *testing.T) {
	ctx := context.Background()
	o := newOutput(t, "{path: /nonexistent-dir-for-test/x}")
	if err := o.Write(ctx, records("a")); err == nil || err.Error() != "file output is not open" {
		t.Fatalf("Write before Start: %v", err)
	}
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	o = newOutput(t, "{path: "+filepath.Join(blocker, "out.txt")+"}")
	if err := o.Start(ctx); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("Start under a file: %v", err)
	}
	if _, err := os.Stat("/dev/full"); err == nil {
		o = newOutput(t, "{path: /dev/full}")
		if err := o.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer o.Close(ctx)
		if err := o.Write(ctx, records("a")); err == nil || err.Error() != "/dev/full: write /dev/full: no space left on device" {
			t.Fatalf("Write to /dev/full: %v", err)
		}
	}
	r := engine.NewRecord(nil, engine.Text)
	r.SetValue(func() {})
	o = newOutput(t, "{path: "+filepath.Join(dir, "x")+"}")
	if err := o.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer o.Close(ctx)
	if err := o.Write(ctx, []*engine.Record{r}); err == nil || !strings.Contains(err.Error(), "value: func() cannot be written as JSON") {
		t.Fatalf("Write of an unencodable value: %v", err)
	}
}

// TestTornRecordIsCut: a file that does not end with a line ending ends in
// a record torn by a crash mid-write; appending cuts that tail first, so
// the record written again is whole and no line joins two records.
func TestTornRecordIsCut(t *testing.T) {
	long := strings.Repeat("x", 100<<10) // the last line ending lies before a whole read chunk
	for _, tt := range []struct{ existing, want string }{
		{"a\nb\n{\"torn\":", "a\nb\nc\n"},
		{"a\n" + long, "a\nc\n"},
		{"torn without any line", "c\n"},
		{"a\nb\n", "a\nb\nc\n"},
	} {
		path := filepath.Join(t.TempDir(), "out.txt")
		if err := os.WriteFile(path, []byte(tt.existing), 0o644); err != nil {
			t.Fatal(err)
		}
		o := newOutput(t, "{path: "+path+"}")
		ctx := context.Background()
		if err := o.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := o.Write(ctx, records("c")); err != nil {
			t.Fatal(err)
		}
		o.Close(ctx)
		got, _ := os.ReadFile(path)
		if string(got) != tt.want {
			t.Errorf("after %.20q…: file %.40q, want %q", tt.existing, got, tt.want)
		}
	}
}
