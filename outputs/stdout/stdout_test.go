package stdout

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/enginetest"
)

func newTestOutput(t *testing.T, fields string, w *bytes.Buffer) *Output {
	t.Helper()
	conf := enginetest.ParseFields(t, "output", Plugin().Spec, fields)
	var out *Output
	var err error
	if w == nil {
		out, err = newOutput(conf, failingWriter{})
	} else {
		out, err = newOutput(conf, w)
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestWrite(t *testing.T) {
	tests := []struct{ fields, want string }{
		{"{}", "text\n{\"a\":1}\n"},
		{"{codec: json_lines}", "\"text\"\n{\"a\":1}\n"},
		{"{codec: envelope}", "{\"key\":\"k\",\"value\":\"text\",\"headers\":{\"h\":\"v\"},\"timestamp\":3}\n{\"key\":null,\"value\":{\"a\":1},\"timestamp\":0}\n"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		o := newTestOutput(t, tt.fields, &buf)
		r := engine.NewRecord([]byte("text"), engine.Text)
		r.Key, r.Headers, r.Timestamp = []byte("k"), []engine.Header{{Key: "h", Value: []byte("v")}}, 3
		if err := o.Write(context.Background(), []*engine.Record{r}); err != nil {
			t.Fatal(err)
		}
		if err := o.Write(context.Background(), []*engine.Record{engine.NewRecord([]byte(`{"a":1}`), engine.JSON)}); err != nil {
			t.Fatal(err)
		}
		if err := o.Write(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		if buf.String() != tt.want {
			t.Errorf("%s: wrote %q, want %q", tt.fields, buf.String(), tt.want)
		}
		if err := o.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWriteError(t *testing.T) {
	o := newTestOutput(t, "{}", nil)
	err := o.Write(context.Background(), []*engine.Record{engine.NewRecord([]byte("x"), engine.Text)})
	if err == nil || err.Error() != "broken pipe" {
		t.Fatalf("error %v", err)
	}
}
