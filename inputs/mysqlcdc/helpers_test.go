package mysqlcdc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/enginetest"
	"github.com/pipelinehq/pipeline/internal/dbtest"
)

// newDB is a fresh database on the shared MariaDB.
func newDB(t *testing.T) dbtest.Database {
	t.Helper()
	return dbtest.Shared(t, dbtest.MariaDB).Database(t)
}

// serverIDs keeps every input's replica id unique: the server drops a
// binlog reader when another connects with the same id.
var serverIDs atomic.Int64

func newInput(t *testing.T, db dbtest.Database, fields string) *Input {
	t.Helper()
	fields = fmt.Sprintf("dsn: %q\nserver_id: %d\nheartbeat_interval: 200ms\n%s", db.DSN, 5000+serverIDs.Add(1), fields)
	return enginetest.NewInput(t, Plugin(), "cdc", fields).(*Input)
}

// started is newInput, resumed from points and started; closed by the
// test's cleanup.
func started(t *testing.T, db dbtest.Database, fields string, points ...engine.Checkpoint) *Input {
	t.Helper()
	in := newInput(t, db, fields)
	enginetest.StartInput(t, in, points...)
	return in
}

// read reads batches until n records came, failing after 20s; batches
// without records are skipped.
func read(t *testing.T, in *Input, n int) ([]*engine.Record, engine.Position) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var recs []*engine.Record
	var last engine.Position
	for len(recs) < n {
		b, err := in.Read(ctx)
		if err != nil {
			t.Fatalf("after %d of %d records: %v (ready: %v)", len(recs), n, err, in.Ready())
		}
		if b.Partition != partition {
			t.Fatalf("batch of partition %q, want %s", b.Partition, partition)
		}
		recs = append(recs, b.Records...)
		last = b.Position
	}
	if len(recs) != n {
		t.Fatalf("read %d records, want %d:\n%s", len(recs), n, describe(t, recs))
	}
	return recs, last
}

// readNothing fails when a batch with records comes within d.
func readNothing(t *testing.T, in *Input, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		b, err := in.Read(ctx)
		if err != nil {
			return
		}
		if len(b.Records) > 0 {
			t.Fatalf("read %d more records, want none: %s", len(b.Records), describe(t, b.Records))
		}
	}
}

// envelope is a Debezium record value, decoded.
type envelope struct {
	Before map[string]any `json:"before"`
	After  map[string]any `json:"after"`
	Source map[string]any `json:"source"`
	Op     string         `json:"op"`
}

func envelopeOf(t *testing.T, r *engine.Record) envelope {
	t.Helper()
	b, err := r.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	var e envelope
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&e); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return e
}

// describe is key=value lines, for failure messages.
func describe(t *testing.T, recs []*engine.Record) string {
	t.Helper()
	var s string
	for _, r := range recs {
		b, _ := r.Bytes()
		s += fmt.Sprintf("%s op=%s = %s\n", r.Key, r.Op, b)
	}
	return s
}

func waitFor(t *testing.T, ok func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 15s for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
