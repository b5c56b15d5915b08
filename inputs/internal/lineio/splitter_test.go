package lineio

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/pipelinehq/pipeline/engine"
)

type line struct {
	text   string
	number int64
	offset int64 // stream offset after the line
}

// readAll splits everything r gives, filling with chunk-sized reads.
func readAll(t *testing.T, s *Splitter, r io.Reader, chunk int) ([]line, [][]byte, error) {
	t.Helper()
	var out []line
	var raw [][]byte
	for {
		l, ok, err := s.Next()
		if err != nil {
			return out, raw, err
		}
		if ok {
			out = append(out, line{string(l), s.Line(), s.Offset()})
			raw = append(raw, l)
			continue
		}
		if s.EOF() {
			return out, raw, nil
		}
		if err := s.Fill(r, chunk); err != nil {
			return out, raw, err
		}
	}
}

func TestSplitter(t *testing.T) {
	readers := map[string]func(string) io.Reader{
		"whole":    func(s string) io.Reader { return strings.NewReader(s) },
		"one byte": func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) },
		"half":     func(s string) io.Reader { return iotest.HalfReader(strings.NewReader(s)) },
		"eof data": func(s string) io.Reader { return iotest.DataErrReader(strings.NewReader(s)) },
	}
	tests := []struct {
		name  string
		input string
		max   int64
		want  []line
		err   string
	}{
		{name: "empty", input: "", max: 10},
		{name: "one line", input: "abc\n", max: 10, want: []line{{"abc", 1, 4}}},
		{name: "no final newline", input: "a\nbc", max: 10, want: []line{{"a", 1, 2}, {"bc", 2, 4}}},
		{name: "crlf", input: "a\r\nb\r\n", max: 10, want: []line{{"a", 1, 3}, {"b", 2, 6}}},
		{name: "empty lines", input: "\n\nx\n", max: 10, want: []line{{"", 1, 1}, {"", 2, 2}, {"x", 3, 4}}},
		{name: "lone cr at end", input: "a\r", max: 10, want: []line{{"a", 1, 2}}},
		{name: "exactly max", input: "abcd\nabcd\r\n", max: 4, want: []line{{"abcd", 1, 5}, {"abcd", 2, 11}}},
		{name: "too long", input: "ab\nabcde\nx\n", max: 4, want: []line{{"ab", 1, 3}}, err: "line 2 is longer than max_line_size (4 bytes)"},
		{name: "too long without newline", input: "ab\n" + strings.Repeat("z", 100), max: 4, want: []line{{"ab", 1, 3}}, err: "line 2 is longer than max_line_size (4 bytes)"},
		{name: "too long last line", input: "abcdef", max: 4, err: "line 1 is longer than max_line_size (4 bytes)"},
	}
	for _, tt := range tests {
		for rname, mk := range readers {
			for _, chunk := range []int{1, 3, 64} {
				s := New(tt.max, 0, 0)
				got, _, err := readAll(t, s, mk(tt.input), chunk)
				if tt.err == "" && err != nil || tt.err != "" && (err == nil || err.Error() != tt.err) {
					t.Fatalf("%s/%s/%d: error %v, want %q", tt.name, rname, chunk, err, tt.err)
				}
				if tt.err != "" {
					var tl *TooLongError
					if !errors.As(err, &tl) {
						t.Fatalf("%s: error %T, want *TooLongError", tt.name, err)
					}
					// Lines before the error may be returned or not, depending on
					// the read sizes; those returned must be right.
					got = got[:min(len(got), len(tt.want))]
				}
				if len(got) != len(tt.want) {
					t.Fatalf("%s/%s/%d: got %v, want %v", tt.name, rname, chunk, got, tt.want)
				}
				for i := range got {
					if got[i] != tt.want[i] {
						t.Fatalf("%s/%s/%d: line %d = %+v, want %+v", tt.name, rname, chunk, i, got[i], tt.want[i])
					}
				}
			}
		}
	}
}

func TestSplitterLinesOwnTheirBytes(t *testing.T) {
	var b strings.Builder
	for i := range 5000 {
		b.WriteString(strings.Repeat(string(rune('a'+i%26)), i%97))
		b.WriteByte('\n')
	}
	s := New(1<<20, 0, 0)
	_, raw, err := readAll(t, s, iotest.HalfReader(strings.NewReader(b.String())), 512)
	if err != nil {
		t.Fatal(err)
	}
	// Appending to a line must not write over the next one.
	for i := range raw {
		_ = append(raw[i], '!', '!')
	}
	for i, l := range raw {
		want := strings.Repeat(string(rune('a'+i%26)), i%97)
		if string(l) != want {
			t.Fatalf("line %d = %q, want %q", i, l, want)
		}
	}
}

func TestSplitterStartsAtOffset(t *testing.T) {
	s := New(100, 10, 3)
	got, _, err := readAll(t, s, strings.NewReader("x\ny\n"), 64)
	if err != nil {
		t.Fatal(err)
	}
	want := []line{{"x", 4, 12}, {"y", 5, 14}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestSplitterFeed(t *testing.T) {
	s := New(100, 0, 0)
	var got []string
	drain := func() {
		for {
			l, ok, err := s.Next()
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				return
			}
			got = append(got, string(l))
		}
	}
	for _, piece := range []string{"ab", "c\nd", "e\n\nf", "", "g"} {
		s.Feed([]byte(piece))
		drain()
	}
	if s.EOF() {
		t.Fatal("EOF before SetEOF")
	}
	s.SetEOF()
	drain()
	if !s.EOF() {
		t.Fatal("not EOF after the last line")
	}
	want := []string{"abc", "de", "", "fg"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q, want %q", got, want)
	}
	if s.Offset() != 10 || s.Line() != 4 {
		t.Fatalf("offset %d line %d, want 10 and 4", s.Offset(), s.Line())
	}
}

func TestSplitterFeedLongLineIsLinear(t *testing.T) {
	s := New(1<<30, 0, 0)
	piece := bytes.Repeat([]byte("x"), 1<<10)
	allocs := testing.AllocsPerRun(1, func() {
		for range 4096 {
			s.Feed(piece)
		}
	})
	if allocs > 64 {
		t.Fatalf("%v allocations feeding a 4MiB line in 1KiB pieces, want a logarithmic number", allocs)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestSplitterReadError(t *testing.T) {
	s := New(10, 0, 0)
	if err := s.Fill(errReader{}, 64); err == nil || err.Error() != "disk on fire" {
		t.Fatalf("Fill error = %v", err)
	}
}

func TestIsBlank(t *testing.T) {
	for in, want := range map[string]bool{"": true, " \t\r": true, " x ": false, "{}": false} {
		if IsBlank([]byte(in)) != want {
			t.Errorf("IsBlank(%q) = %v", in, !want)
		}
	}
}

func TestRecords(t *testing.T) {
	var a Records
	var recs []*engine.Record
	for i := range 3000 {
		r := a.New([]byte{byte(i)}, engine.JSON)
		r.Offset = int64(i)
		recs = append(recs, r)
	}
	for i, r := range recs {
		b, _ := r.Bytes()
		_, orig := r.Original()
		if r.Offset != int64(i) || len(b) != 1 || b[0] != byte(i) || !r.IsJSON() || len(orig) != 1 {
			t.Fatalf("record %d: offset %d bytes %v json %v", i, r.Offset, b, r.IsJSON())
		}
	}
	allocs := testing.AllocsPerRun(10, func() {
		for range 1024 {
			a.New(nil, engine.Text)
		}
	})
	if allocs > 2 {
		t.Fatalf("%v allocations per 1024 records, want at most 2", allocs)
	}
}
