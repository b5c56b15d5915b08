package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/enginetest"
)

// committedAt is the position a run that read path up to offset committed.
func committedAt(t *testing.T, path string, offset int64) engine.Checkpoint {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	fp, err := fingerprintOf(f, min(headBytes, st.Size()))
	if err != nil {
		t.Fatal(err)
	}
	return engine.Checkpoint{Partition: path, Position: fp.position(offset)}
}

// resumedInput is an input of fields resumed from points and started, with
// what it logs.
func resumedInput(t *testing.T, fields string, points ...engine.Checkpoint) (*Input, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	p := Plugin()
	in, err := p.New(enginetest.ParseFields(t, "input", p.Spec, fields),
		&engine.Resources{Label: "src", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := in.(*Input).Resume(points); err != nil {
		t.Fatal(err)
	}
	if err := in.(*Input).Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(context.Background()) })
	return in.(*Input), &logs
}

func TestResumeAtOffset(t *testing.T) {
	t.Chdir(t.TempDir())
	writeFiles(t, map[string]string{"a.txt": "1\n22\n333\n4444\n", "a.csv": "k,v\n1,a\n2,\"b\nb\"\n3,c\n"})
	tests := []struct {
		fields, path string
		offset       int64
		json         bool
		want         batch
	}{
		{`{paths: [a.txt]}`, "a.txt", 5, false, batch{"a.txt", "14", []string{"333", "4444"}, []int64{3, 4}}},
		{`{paths: [a.csv], codec: csv}`, "a.csv", 8, true, batch{"a.csv", "20", []string{`{"k":"2","v":"b\nb"}`, `{"k":"3","v":"c"}`}, []int64{3, 5}}},
	}
	for _, tt := range tests {
		in, logs := resumedInput(t, tt.fields, committedAt(t, tt.path, tt.offset))
		b, err := in.Read(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", tt.path, err)
		}
		if got := describe(t, b, tt.json); got.String() != tt.want.String() {
			t.Fatalf("got  %v\nwant %v", got, tt.want)
		}
		if logs.Len() > 0 {
			t.Fatalf("%s: an unchanged file was reported: %s", tt.path, logs)
		}
	}
}

func TestResumeStartsAtCommittedOffsets(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.txt"), filepath.Join(dir, "b.txt")
	writeFiles(t, map[string]string{a: "one\ntwo\nthree\n", b: "x\ny\n"})
	in, _ := resumedInput(t, fmt.Sprintf("paths: [%q, %q]", a, b), committedAt(t, a, 8), committedAt(t, b, 4))
	batch, err := in.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if off, _ := batch.Position.Int(fieldOffset); len(batch.Records) != 1 || batch.Records[0].Offset != 3 || off != 14 {
		t.Fatalf("resumed batch: %d records, first offset %d, position %s", len(batch.Records), batch.Records[0].Offset, batch.Position)
	}
	if v, _ := batch.Records[0].Value(); v != "three" {
		t.Fatalf("resumed at %q, want line three", v)
	}
	if _, err := in.Read(context.Background()); !errors.Is(err, io.EOF) {
		t.Fatalf("b.txt was fully read before; want EOF, got %v", err)
	}
}

// TestChangedFileIsReadFromStart: a file replaced under the same path since
// its position was committed (shorter than the offset, or other first bytes)
// is reported and read from its first line, not resumed in the middle; a
// file that only grew resumes.
func TestChangedFileIsReadFromStart(t *testing.T) {
	tests := []struct {
		name, before, after string
		offset              int64
		want                []string
		reason              string
	}{
		{"grown", "one\ntwo\n", "one\ntwo\nthree\n", 8, []string{"three"}, ""},
		{"truncated", "one\ntwo\nthree\n", "new\n", 8, []string{"new"}, "it has 4 bytes, fewer than the 8 already read"},
		{"replaced, longer", "one\ntwo\n", "uno\ndos\ntres\n", 8, []string{"uno", "dos", "tres"}, "its first 8 bytes differ from those read before"},
		{"replaced, same size", "aaaa\nbbbb\n", "cccc\ndddd\n", 5, []string{"cccc", "dddd"}, "its first 10 bytes differ from those read before"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f.txt")
			writeFiles(t, map[string]string{path: tt.before})
			committed := committedAt(t, path, tt.offset)
			writeFiles(t, map[string]string{path: tt.after})
			in, logs := resumedInput(t, fmt.Sprintf("paths: [%q]", path), committed)
			b, err := in.Read(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range b.Records {
				v, _ := r.Value()
				got = append(got, v.(string))
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("read %q, want %q", got, tt.want)
			}
			switch {
			case tt.reason == "" && logs.Len() > 0:
				t.Fatalf("a grown file was reported as changed: %s", logs)
			case tt.reason != "" && (!strings.Contains(logs.String(), "the file changed since its position was committed: reading it from the start") ||
				!strings.Contains(logs.String(), tt.reason) || !strings.Contains(logs.String(), "committed_offset="+fmt.Sprint(tt.offset))):
				t.Fatalf("want a warning giving %q, logged:\n%s", tt.reason, logs)
			}
		})
	}
}

func TestResumeFromAPositionThatIsNotAFiles(t *testing.T) {
	in := newInput(t, `{paths: [a.txt]}`)
	err := in.Resume([]engine.Checkpoint{{Partition: "a.txt", Position: engine.IntPosition("offset", 3)}})
	want := `a.txt: committed position {"offset":3} is not a file position: position {"offset":3} has no field "head"`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}
