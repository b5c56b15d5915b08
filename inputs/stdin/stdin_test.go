package stdin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/enginetest"
)

func newTestInput(t *testing.T, fields string, r io.Reader) *Input {
	t.Helper()
	conf := enginetest.ParseFields(t, "input", Plugin().Spec, fields)
	in, err := newInput(conf, &engine.Resources{Label: "in"}, r)
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(context.Background()) })
	return in
}

// show describes a batch: position, then value@offset for each record.
func show(t *testing.T, b engine.InputBatch, json bool) string {
	t.Helper()
	if b.Partition != "stdin" {
		t.Fatalf("partition %q", b.Partition)
	}
	offset, _ := b.Position.Int("offset")
	parts := []string{fmt.Sprint(offset)}
	for _, r := range b.Records {
		v, _ := r.Bytes()
		if r.IsJSON() != json || r.Source.Partition != "stdin" || r.Source.Input != "in" || r.Timestamp == 0 {
			t.Fatalf("record %s: json %v source %+v timestamp %d", r.Describe(), r.IsJSON(), r.Source, r.Timestamp)
		}
		parts = append(parts, fmt.Sprintf("%s@%d", v, r.Offset))
	}
	return strings.Join(parts, " ")
}

func readAll(t *testing.T, in *Input, json bool) ([]string, error) {
	t.Helper()
	var out []string
	for {
		b, err := in.Read(context.Background())
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return out, err
		}
		out = append(out, show(t, b, json))
	}
}

func TestRead(t *testing.T) {
	tests := []struct {
		name, fields, input string
		reader              func(io.Reader) io.Reader
		want                []string
		err                 string
	}{
		{name: "lines", fields: "{}", input: "a\r\nb\n\nlast",
			want: []string{"10 a@1 b@2 @3 last@4"}},
		{name: "batch size", fields: "{batch_size: 2}", input: "1\n2\n3\n",
			want: []string{"4 1@1 2@2", "6 3@3"}},
		{name: "json lines skip blank lines", fields: "{codec: json_lines}", input: "{\"a\":1}\n \n[2]\n",
			want: []string{"14 {\"a\":1}@1 [2]@3"}},
		{name: "one byte at a time", fields: "{batch_size: 2}", input: "ab\ncd\nef\n",
			reader: iotest.OneByteReader,
			// How lines group into batches depends on timing; the records not.
			want: []string{"9 ab@1 cd@2 ef@3"}},
		{name: "empty", fields: "{}", input: ""},
		{name: "too long", fields: "{max_line_size: 3}", input: "abc\nabcd\n", err: "stdin:2: line is longer than max_line_size (3 bytes)"},
		{name: "read error after data", fields: "{}", input: "a\nb\n",
			reader: func(r io.Reader) io.Reader { return io.MultiReader(r, iotest.ErrReader(errors.New("boom"))) },
			want:   []string{"4 a@1 b@2"}, err: "stdin: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r io.Reader = strings.NewReader(tt.input)
			if tt.reader != nil {
				r = tt.reader(r)
			}
			in := newTestInput(t, tt.fields, r)
			got, err := readAll(t, in, strings.Contains(tt.fields, "json"))
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || err.Error() != tt.err) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
			// stdin hands on whatever lines are ready, so where batches
			// split depends on timing; the records, their order and the
			// batch size cap do not.
			for _, b := range got {
				if max := maxBatch(tt.fields); strings.Count(b, "@") > max {
					t.Fatalf("batch %q has more than batch_size %d records", b, max)
				}
			}
			if strings.Join(flatten(got), "|") != strings.Join(flatten(tt.want), "|") && !(tt.err != "" && len(tt.want) == 0) {
				t.Fatalf("got  %q\nwant %q", got, tt.want)
			}
			if wantPos, ok := finalPosition(tt.want); ok {
				if gotPos, _ := finalPosition(got); gotPos != wantPos {
					t.Fatalf("final position %s, want %s", gotPos, wantPos)
				}
			}
		})
	}
}

// finalPosition is the position of the last batch, when the batches carry one.
func finalPosition(batches []string) (string, bool) {
	if len(batches) == 0 {
		return "", false
	}
	pos, _, _ := strings.Cut(batches[len(batches)-1], " ")
	if _, err := strconv.Atoi(pos); err != nil {
		return "", false
	}
	return pos, true
}

func maxBatch(fields string) int {
	if strings.Contains(fields, "batch_size: 2") {
		return 2
	}
	return 1 << 30
}

// flatten drops batch boundaries and positions.
func flatten(batches []string) []string {
	var recs []string
	for _, b := range batches {
		_, r, _ := strings.Cut(b, " ")
		recs = append(recs, r)
	}
	if len(recs) == 0 {
		return nil
	}
	return []string{strings.Join(recs, " ")}
}

// TestInteractive feeds a pipe piece by piece, as a terminal would.
func TestInteractive(t *testing.T) {
	pr, pw := io.Pipe()
	in := newTestInput(t, "{}", pr)
	ctx := context.Background()
	write := func(s string) {
		go func() { _, _ = pw.Write([]byte(s)) }()
	}
	expect := func(want string) {
		t.Helper()
		b, err := in.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := show(t, b, false); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	write("hel")
	time.Sleep(10 * time.Millisecond)
	write("lo\nwor")
	expect("6 hello@1")
	write("ld\n")
	expect("12 world@2")
	write("bye")
	time.Sleep(10 * time.Millisecond)
	pw.Close()
	expect("15 bye@3")
	if _, err := in.Read(ctx); err != io.EOF {
		t.Fatalf("Read at the end: %v, want io.EOF", err)
	}
}

func TestReadReturnsOnCancel(t *testing.T) {
	pr, _ := io.Pipe()
	in := newTestInput(t, "{}", pr)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	if _, err := in.Read(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Read: %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Read took %s to see the cancel", d)
	}
}

// TestCloseStopsReader checks that Close leaves no goroutine behind for
// readers that can be interrupted: a closable reader and an os.Pipe.
func TestCloseStopsReader(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	defer pr.Close()
	ipr, _ := io.Pipe()
	for name, r := range map[string]io.Reader{"io.Pipe": ipr, "os.Pipe": pr} {
		t.Run(name, func(t *testing.T) {
			in := newTestInput(t, "{}", r)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := in.Close(ctx); err != nil {
				t.Fatalf("Close: %v", err)
			}
			select {
			case <-in.exited:
			default:
				t.Fatal("the reading goroutine is still running after Close")
			}
			if err := in.Close(ctx); err != nil {
				t.Fatalf("second Close: %v", err)
			}
		})
	}
}

// A reader that feeds more than the channel holds must not keep its goroutine
// blocked on a send after Close.
func TestCloseWhileSending(t *testing.T) {
	in := newTestInput(t, "{}", strings.NewReader(strings.Repeat("x\n", 1<<20)))
	time.Sleep(10 * time.Millisecond)
	if err := in.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-in.exited:
	case <-time.After(5 * time.Second):
		t.Fatal("the reading goroutine did not stop")
	}
}

func TestReadBeforeStart(t *testing.T) {
	in := &Input{}
	if _, err := in.Read(context.Background()); err == nil || err.Error() != "stdin input is not started" {
		t.Fatalf("Read: %v", err)
	}
	if err := in.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}
