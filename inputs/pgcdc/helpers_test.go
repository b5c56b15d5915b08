package pgcdc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/enginetest"
	"github.com/pipelinehq/pipeline/internal/dbtest"
)

// newDB is a fresh database on the shared PostgreSQL; the slots made in it
// are dropped at the end.
func newDB(t *testing.T) dbtest.Database {
	t.Helper()
	db := dbtest.Shared(t, dbtest.Postgres).Database(t)
	t.Cleanup(func() {
		db.Server.TryExec(db.Name, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database() AND NOT active")
	})
	return db
}

func newInput(t *testing.T, db dbtest.Database, fields string) *Input {
	t.Helper()
	fields = fmt.Sprintf("dsn: %q\nslot: s1\nheartbeat_interval: 100ms\n%s", db.DSN, fields)
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

// read reads batches until n records came, failing after 20s.
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
		if b.Partition != "s1" && !in.asTable {
			t.Fatalf("batch of partition %q, want the slot s1", b.Partition)
		}
		recs = append(recs, b.Records...)
		last = b.Position
	}
	if len(recs) != n {
		t.Fatalf("read %d records, want %d", len(recs), n)
	}
	return recs, last
}

// readNothing fails when a batch comes within d.
func readNothing(t *testing.T, in *Input, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if b, err := in.Read(ctx); err == nil {
		t.Fatalf("read %d more records, want none: %s", len(b.Records), describe(t, b.Records))
	}
}

// envelope is a Debezium record value, decoded.
type envelope struct {
	Before map[string]any  `json:"before"`
	After  map[string]any  `json:"after"`
	Source map[string]any  `json:"source"`
	Op     string          `json:"op"`
	TsMs   json.Number     `json:"ts_ms"`
	Extra  json.RawMessage `json:"transaction"`
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

func commit(t *testing.T, in *Input, p engine.Position) {
	t.Helper()
	if err := in.Commit(context.Background(), []engine.Checkpoint{{Partition: "s1", Position: p}}); err != nil {
		t.Fatal(err)
	}
}

// confirmed is the slot's confirmed_flush_lsn as a number.
func confirmed(t *testing.T, db dbtest.Database) int64 {
	t.Helper()
	rows := db.Server.Query(t, db.Name, "SELECT (confirmed_flush_lsn - '0/0')::bigint FROM pg_replication_slots WHERE slot_name = 's1'")
	if len(rows) == 0 {
		t.Fatal("no slot s1")
	}
	var n int64
	fmt.Sscan(rows[0][0], &n)
	return n
}

// streaming waits until the server says the slot is in use: with
// snapshot_mode no_data, changes made before the slot exists are not the
// input's.
func streaming(t *testing.T, db dbtest.Database) {
	t.Helper()
	waitFor(t, func() bool {
		rows := db.Server.Query(t, db.Name, "SELECT active FROM pg_replication_slots WHERE slot_name = 's1'")
		return len(rows) == 1 && rows[0][0] == "t"
	}, "the slot s1 to be active")
}
