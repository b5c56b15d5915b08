package generate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/enginetest"
)

func newTestInput(t *testing.T, fields string) *Input {
	t.Helper()
	return enginetest.NewInput(t, Plugin(), "gen", fields).(*Input)
}

func show(t *testing.T, b engine.InputBatch) string {
	t.Helper()
	next, err := b.Position.Int(positionField)
	if err != nil {
		t.Fatal(err)
	}
	parts := []string{fmt.Sprint(next)}
	for _, r := range b.Records {
		v, err := r.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if r.Source.Partition != "generate" || r.Source.Input != "gen" || r.Timestamp == 0 {
			t.Fatalf("record %s: source %+v timestamp %d", r.Describe(), r.Source, r.Timestamp)
		}
		part := fmt.Sprintf("%s@%d/%v", v, r.Offset, r.IsJSON())
		if r.Key != nil {
			part = string(r.Key) + "=" + part
		}
		parts = append(parts, part)
	}
	return b.Partition + " " + strings.Join(parts, " ")
}

func TestRead(t *testing.T) {
	tests := []struct {
		name, fields string
		batches      int // read at most this many; 0: until EOF
		want         []string
	}{
		{name: "count in batches", fields: `{value: '{"n": meta.offset}', count: 5, batch_size: 2}`,
			want: []string{
				`generate 2 {"n":0}@0/true {"n":1}@1/true`,
				`generate 4 {"n":2}@2/true {"n":3}@3/true`,
				`generate 5 {"n":4}@4/true`,
			}},
		{name: "text", fields: `{value: '"item " + string(meta.offset)', count: 2}`,
			want: []string{`generate 2 item 0@0/false item 1@1/false`}},
		{name: "timestamp and meta", fields: `{value: 'timestamp > 0 && meta.partition == "generate" && meta.input == "gen"', count: 1}`,
			want: []string{`generate 1 true@0/true`}},
		{name: "keys", fields: `{value: '{"id": meta.offset * 10}', key: '"k" + string(value.id)', count: 2}`,
			want: []string{`generate 2 k0={"id":0}@0/true k10={"id":10}@1/true`}},
		{name: "numeric key and nil key", fields: `{value: 'meta.offset', key: 'value == 1 ? nil : value * 3', count: 3}`,
			want: []string{`generate 3 0=0@0/true 1@1/true 6=2@2/true`}},
		{name: "unbounded", fields: `{value: 'meta.offset * 2', batch_size: 3}`, batches: 2,
			want: []string{`generate 3 0@0/true 2@1/true 4@2/true`, `generate 6 6@3/true 8@4/true 10@5/true`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := newTestInput(t, tt.fields)
			var got []string
			for tt.batches == 0 || len(got) < tt.batches {
				b, err := in.Read(context.Background())
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, show(t, b))
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if tt.batches == 0 {
				if _, err := in.Read(context.Background()); err != io.EOF {
					t.Fatalf("Read after the end: %v, want io.EOF", err)
				}
			}
		})
	}
}

func TestInterval(t *testing.T) {
	in := newTestInput(t, `{value: 'meta.offset', count: 4, interval: 30ms, batch_size: 100}`)
	start := time.Now()
	var got []string
	for {
		b, err := in.Read(context.Background())
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, show(t, b))
	}
	want := "generate 1 0@0/true|generate 2 1@1/true|generate 3 2@2/true|generate 4 3@3/true"
	if strings.Join(got, "|") != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	// The first record comes at once, then one per interval.
	if d := time.Since(start); d < 90*time.Millisecond {
		t.Fatalf("4 records with a 30ms interval took %s, want at least 90ms", d)
	}
}

func TestIntervalWaitEndsOnCancel(t *testing.T) {
	in := newTestInput(t, `{value: '1', interval: 1h}`)
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := in.Read(ctx); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	if _, err := in.Read(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Read: %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Read took %s to see the cancel", d)
	}
	if _, err := in.Read(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Read after cancel: %v", err)
	}
}

func TestEvalErrorNamesRecord(t *testing.T) {
	in := newTestInput(t, `{value: '[10, 20][meta.offset]', batch_size: 5}`)
	_, err := in.Read(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), "generating record 2: [10, 20][meta.offset]: ") {
		t.Fatalf("error %v, want one naming record 2 and the expression", err)
	}
}

func TestKeyErrorNamesRecord(t *testing.T) {
	in := newTestInput(t, `{value: 'meta.offset', key: 'value == 1 ? {"a": 1} : "k"', batch_size: 5}`)
	_, err := in.Read(context.Background())
	if err == nil || err.Error() != "generating record 1: key: want a string, bytes or a number, got an object" {
		t.Fatalf("error %v, want one naming record 1 and what its key is", err)
	}
}

func TestResumeContinuesTheSequence(t *testing.T) {
	in := newTestInput(t, `{value: 'meta.offset', count: 5, batch_size: 2}`)
	if err := in.Resume([]engine.Checkpoint{{Partition: "generate", Position: engine.IntPosition("next", 3)}}); err != nil {
		t.Fatal(err)
	}
	b, err := in.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := show(t, b); got != "generate 5 3@3/true 4@4/true" {
		t.Fatalf("after Resume at 3: %s", got)
	}
	if _, err := in.Read(context.Background()); err != io.EOF {
		t.Fatalf("after the count: %v, want io.EOF", err)
	}
	err = in.Resume([]engine.Checkpoint{{Partition: "generate", Position: engine.Position{}.WithString("next", "x")}})
	if want := `position {"next":"x"}: want "next", the sequence number of the next record`; err == nil || err.Error() != want {
		t.Fatalf("a position that is not a sequence number: %v, want %s", err, want)
	}
}
