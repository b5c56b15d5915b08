package cdctest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/engine"
)

// Read reads batches until n records came, failing after 20s; partition,
// when not empty, is the one every batch must be of.
func Read(t *testing.T, in engine.Input, n int, partition string) ([]*engine.Record, engine.Position) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var recs []*engine.Record
	var last engine.Position
	for len(recs) < n {
		b, err := in.Read(ctx)
		if err != nil {
			t.Fatalf("after %d of %d records: %v (ready: %v)", len(recs), n, err, readiness(in))
		}
		if partition != "" && b.Partition != partition {
			t.Fatalf("batch of partition %q, want %s", b.Partition, partition)
		}
		recs = append(recs, b.Records...)
		last = b.Position
	}
	if len(recs) != n {
		t.Fatalf("read %d records, want %d:\n%s", len(recs), n, Describe(recs))
	}
	return recs, last
}

func readiness(in engine.Input) error {
	if r, ok := in.(interface{ Ready() error }); ok {
		return r.Ready()
	}
	return nil
}

// ReadNothing fails when a batch with records comes within d; batches
// without records (a position moving on) are let by.
func ReadNothing(t *testing.T, in engine.Input, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		b, err := in.Read(ctx)
		if err != nil {
			return
		}
		if len(b.Records) > 0 {
			t.Fatalf("read %d more records, want none: %s", len(b.Records), Describe(b.Records))
		}
	}
}

// Envelope is a Debezium record value, decoded, numbers as json.Number.
type Envelope struct {
	Before      map[string]any  `json:"before"`
	After       map[string]any  `json:"after"`
	Source      map[string]any  `json:"source"`
	Op          string          `json:"op"`
	TsMs        json.Number     `json:"ts_ms"`
	Transaction json.RawMessage `json:"transaction"`
}

// EnvelopeOf decodes r's value.
func EnvelopeOf(t *testing.T, r *engine.Record) Envelope {
	t.Helper()
	b, err := r.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	var e Envelope
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&e); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return e
}

// Describe is key op=… = value lines, for failure messages.
func Describe(recs []*engine.Record) string {
	var s strings.Builder
	for _, r := range recs {
		b, _ := r.Bytes()
		fmt.Fprintf(&s, "%s op=%s = %s\n", r.Key, r.Op, b)
	}
	return s.String()
}

// Keys is the records' keys, space-separated.
func Keys(recs []*engine.Record) string {
	ks := make([]string, len(recs))
	for i, r := range recs {
		ks[i] = string(r.Key)
	}
	return strings.Join(ks, " ")
}

// WaitFor polls ok for up to 15s.
func WaitFor(t *testing.T, ok func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 15s for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
