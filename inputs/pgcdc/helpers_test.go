package pgcdc

import (
	"context"
	"fmt"
	"testing"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/enginetest"
	"github.com/pipelinehq/pipeline/inputs/internal/cdctest"
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

// read reads batches until n records came, failing after 20s; batches are
// of the slot s1, but for a table's.
func read(t *testing.T, in *Input, n int) ([]*engine.Record, engine.Position) {
	t.Helper()
	slot := "s1"
	if in.asTable {
		slot = ""
	}
	return cdctest.Read(t, in, n, slot)
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
	cdctest.WaitFor(t, func() bool {
		rows := db.Server.Query(t, db.Name, "SELECT active FROM pg_replication_slots WHERE slot_name = 's1'")
		return len(rows) == 1 && rows[0][0] == "t"
	}, "the slot s1 to be active")
}
