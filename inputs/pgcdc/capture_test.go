package pgcdc

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/enginetest"
	"github.com/pipelinehq/pipeline/inputs/internal/cdctest"
	"github.com/pipelinehq/pipeline/internal/dbtest"
)

const ordersTable = `CREATE TABLE orders (
	id bigint PRIMARY KEY, amount numeric(10,2) NOT NULL, status text, at timestamptz, doc jsonb, raw bytea, tags int[], f real)`

// TestSnapshotThenStream: the rows there at the start come as reads (the
// last marked "last"), then inserts, updates and deletes (with their
// tombstone) as Debezium's events, keyed by the primary key, with every
// value exact.
func TestSnapshotThenStream(t *testing.T) {
	db := newDB(t)
	db.Exec(t, ordersTable)
	db.Exec(t, `INSERT INTO orders VALUES
		(1, 19.90, 'PAID', '2026-12-03 10:00:00.123456+00', '{"n": 9007199254740993}', '\x00ff', '{1,2}', 0.1),
		(2, 59.00, NULL, NULL, NULL, NULL, NULL, NULL)`)
	in := started(t, db, "tables: [orders]\ntopic_prefix: pg")
	recs, pos := read(t, in, 2)
	first, second := cdctest.EnvelopeOf(t, recs[0]), cdctest.EnvelopeOf(t, recs[1])
	if first.Op != "r" || second.Op != "r" || first.Source["snapshot"] != "first" || second.Source["snapshot"] != "last" {
		t.Fatalf("snapshot events:\n%s", cdctest.Describe(recs))
	}
	if string(recs[0].Key) != `{"id":1}` || recs[0].Op != engine.OpRead {
		t.Errorf("key %s op %s, want {\"id\":1} r", recs[0].Key, recs[0].Op)
	}
	b, _ := recs[0].Bytes()
	for _, want := range []string{`"amount":"19.90"`, `"at":"2026-12-03T10:00:00.123456Z"`, `"doc":{"n":9007199254740993}`,
		`"raw":"AP8="`, `"tags":[1,2]`, `"f":0.1`, `"status":"PAID"`, `"before":null`, `"schema":"public"`, `"table":"orders"`,
		`"connector":"postgresql"`, `"name":"pg"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("snapshot row lacks %s:\n%s", want, b)
		}
	}
	if got := recs[0].Source.Meta["topic"]; got != "pg.public.orders" {
		t.Errorf("meta.topic %v, want pg.public.orders", got)
	}
	if pos.Has("snapshot_rows") {
		t.Errorf("the snapshot's last batch carries %s, want a streaming position", pos)
	}
	db.Exec(t, `INSERT INTO orders (id, amount, status) VALUES (3, 5.00, 'CREATED');
		UPDATE orders SET status = 'SHIPPED' WHERE id = 1;
		DELETE FROM orders WHERE id = 2`)
	recs, _ = read(t, in, 4)
	ops := []string{}
	for _, r := range recs {
		if r.IsTombstone() {
			ops = append(ops, "tombstone "+string(r.Key))
			continue
		}
		ops = append(ops, cdctest.EnvelopeOf(t, r).Op+" "+string(r.Key))
	}
	if got, want := strings.Join(ops, ", "), `c {"id":3}, u {"id":1}, d {"id":2}, tombstone {"id":2}`; got != want {
		t.Fatalf("changes %s, want %s", got, want)
	}
	upd, del := cdctest.EnvelopeOf(t, recs[1]), cdctest.EnvelopeOf(t, recs[2])
	if upd.Before != nil || upd.After["status"] != "SHIPPED" || upd.After["amount"] != "19.90" {
		t.Errorf("update: before %v (REPLICA IDENTITY DEFAULT: null), after %v", upd.Before, upd.After)
	}
	if del.After != nil || del.Before["id"] == nil || upd.Source["snapshot"] != "false" || upd.Source["txId"] == nil {
		t.Errorf("delete: before %v after %v; update source %v", del.Before, del.After, upd.Source)
	}
}

// TestReplicaIdentityFullAndToast: with REPLICA IDENTITY FULL an update's
// before is the whole row; an unchanged TOASTed value is the placeholder,
// never null.
func TestReplicaIdentityFullAndToast(t *testing.T) {
	db := newDB(t)
	db.Exec(t, `CREATE TABLE docs (id int PRIMARY KEY, n int, body text);
		ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL;
		CREATE TABLE full_docs (id int PRIMARY KEY, n int);
		ALTER TABLE full_docs REPLICA IDENTITY FULL`)
	in := started(t, db, "tables: [docs, full_docs]\nsnapshot_mode: no_data")
	streaming(t, db)
	db.Exec(t, `INSERT INTO docs VALUES (1, 1, repeat('x', 10000)); UPDATE docs SET n = 2 WHERE id = 1;
		INSERT INTO full_docs VALUES (1, 1); UPDATE full_docs SET n = 2 WHERE id = 1`)
	recs, _ := read(t, in, 4)
	toast := cdctest.EnvelopeOf(t, recs[1])
	if toast.After["body"] != "__debezium_unavailable_value" || toast.After["n"] != json.Number("2") {
		t.Errorf("update of an unchanged TOAST column: after %v", toast.After)
	}
	full := cdctest.EnvelopeOf(t, recs[3])
	if full.Before["n"] != json.Number("1") || full.After["n"] != json.Number("2") {
		t.Errorf("REPLICA IDENTITY FULL: before %v after %v", full.Before, full.After)
	}
}

// TestResumeInsideATransaction: a transaction split over batches, its
// first half committed: a new run from that position hands on the rest of
// it, and nothing before.
func TestResumeInsideATransaction(t *testing.T) {
	db := newDB(t)
	db.Exec(t, "CREATE TABLE t (id int PRIMARY KEY)")
	in := started(t, db, "tables: [t]\nbatch_max_events: 3")
	cdctest.ReadNothing(t, in, 300*time.Millisecond) // the slot exists, the empty snapshot is done
	db.Exec(t, "INSERT INTO t SELECT generate_series(1, 7)")
	recs, pos := read(t, in, 3)
	if string(recs[0].Key) != `{"id":1}` || pos.Has("snapshot_rows") {
		t.Fatalf("first batch %s at %s", cdctest.Describe(recs), pos)
	}
	if n, _ := pos.Int("events"); n != 3 {
		t.Fatalf("position %s, want 3 events of the transaction", pos)
	}
	commit(t, in, pos)
	in.Close(t.Context())

	again := started(t, db, "tables: [t]\nbatch_max_events: 3", engine.Checkpoint{Partition: "s1", Position: pos})
	recs, _ = read(t, again, 4)
	var keys []string
	for _, r := range recs {
		keys = append(keys, string(r.Key))
	}
	if got := strings.Join(keys, " "); got != `{"id":4} {"id":5} {"id":6} {"id":7}` {
		t.Fatalf("after resuming at %s: %s", pos, got)
	}
	cdctest.ReadNothing(t, again, 300*time.Millisecond)
}

// TestConfirmsOnlyWhatWasCommitted: changes read but not committed leave
// the slot's confirmed_flush_lsn where it was; once committed, it moves
// to them; idle afterwards, it follows the server's WAL as other tables
// write.
func TestConfirmsOnlyWhatWasCommitted(t *testing.T) {
	db := newDB(t)
	db.Exec(t, "CREATE TABLE t (id int PRIMARY KEY); CREATE TABLE other (id int)")
	in := started(t, db, "tables: [t]\nsnapshot_mode: no_data")
	streaming(t, db)
	time.Sleep(300 * time.Millisecond) // a status update or two
	before := confirmed(t, db)
	db.Exec(t, "INSERT INTO t VALUES (1)")
	_, pos := read(t, in, 1)
	time.Sleep(500 * time.Millisecond)
	if got := confirmed(t, db); got != before {
		t.Fatalf("confirmed_flush_lsn moved from %d to %d before the change was committed", before, got)
	}
	commit(t, in, pos)
	lsn, _ := pos.Int("lsn")
	cdctest.WaitFor(t, func() bool { return confirmed(t, db) >= lsn }, "confirmed_flush_lsn to reach the commit")
	at := confirmed(t, db)
	for i := 0; i < 5; i++ {
		db.Exec(t, "INSERT INTO other SELECT generate_series(1, 1000)")
		time.Sleep(100 * time.Millisecond)
	}
	cdctest.WaitFor(t, func() bool { return confirmed(t, db) > at }, "confirmed_flush_lsn to follow the WAL of other tables")
}

// TestDroppedSlot: a position whose slot was dropped is a clear error
// that says what to do.
func TestDroppedSlot(t *testing.T) {
	db := newDB(t)
	db.Exec(t, "CREATE TABLE t (id int PRIMARY KEY)")
	in := newInput(t, db, "tables: [t]")
	if err := in.Resume([]engine.Checkpoint{{Partition: "s1", Position: position{lsn: 1000, events: 1}.engine()}}); err != nil {
		t.Fatal(err)
	}
	if err := in.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer in.Close(t.Context())
	_, err := in.Read(t.Context())
	if err == nil || !strings.Contains(err.Error(), "replication slot s1 does not exist") || !strings.Contains(err.Error(), "when_needed") {
		t.Fatalf("got %v, want the missing slot named, and what to do", err)
	}
}

// TestStartRefuses: a missing table, or one left out of an existing
// publication, stops the start with an error naming the setting.
func TestStartRefuses(t *testing.T) {
	db := newDB(t)
	db.Exec(t, "CREATE TABLE t (id int PRIMARY KEY); CREATE TABLE u (id int PRIMARY KEY); CREATE PUBLICATION p FOR TABLE t")
	for _, c := range []struct{ fields, want string }{
		{"tables: [nope]", "table public.nope does not exist"},
		{"tables: [u]\npublication: p", "table public.u is not in publication p: ALTER PUBLICATION p ADD TABLE"},
		{"publication: q\ncreate_publication: false", "publication q does not exist"},
	} {
		fields, want := c.fields, c.want
		in := newInput(t, db, fields)
		err := in.Start(t.Context())
		in.Close(t.Context())
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", fields, err, want)
		}
	}
}

// TestSlotWithoutPositionIsMadeAgain: a slot there before the input's
// first commit (an operator's, or a run killed before it committed) is
// made again for the snapshot: the rows come once, as reads, and the
// changes before the start are not replayed on top of them.
func TestSlotWithoutPositionIsMadeAgain(t *testing.T) {
	db := newDB(t)
	db.Exec(t, "CREATE TABLE t (id int PRIMARY KEY, v int)")
	db.Exec(t, "SELECT pg_create_logical_replication_slot('s1', 'pgoutput')")
	db.Exec(t, "INSERT INTO t VALUES (1, 1), (2, 2); UPDATE t SET v = 3 WHERE id = 1")
	in := started(t, db, "tables: [t]")
	recs, _ := read(t, in, 2)
	for i, r := range recs {
		if e := cdctest.EnvelopeOf(t, r); e.Op != "r" {
			t.Fatalf("record %d: op %s, want a snapshot read:\n%s", i, e.Op, cdctest.Describe(recs))
		}
	}
	for _, r := range recs {
		if e := cdctest.EnvelopeOf(t, r); string(r.Key) == `{"id":1}` && e.After["v"] != json.Number("3") {
			t.Errorf("row 1 read with v %v, want 3", e.After["v"])
		}
	}
	cdctest.ReadNothing(t, in, 500*time.Millisecond)
	db.Exec(t, "INSERT INTO t VALUES (3, 3)")
	recs, _ = read(t, in, 1)
	if e := cdctest.EnvelopeOf(t, recs[0]); e.Op != "c" || string(recs[0].Key) != `{"id":3}` {
		t.Fatalf("after the snapshot: %s", cdctest.Describe(recs))
	}
}

// TestSlotDroppedWhileStreaming: an operator ends the input's replication
// connection and drops its slot: the capture stops with the slot named and
// what to do, instead of streaming from a new slot past lost changes.
func TestSlotDroppedWhileStreaming(t *testing.T) {
	db := newDB(t)
	db.Exec(t, "CREATE TABLE t (id int PRIMARY KEY)")
	in := started(t, db, "tables: [t]\nsnapshot_mode: no_data")
	streaming(t, db)
	db.Exec(t, "INSERT INTO t VALUES (1)")
	_, pos := read(t, in, 1)
	commit(t, in, pos)
	cdctest.WaitFor(t, func() bool {
		db.Server.TryExec(db.Name, "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = 's1' AND active")
		db.Server.TryExec(db.Name, "SELECT pg_drop_replication_slot('s1')")
		return len(db.Server.Query(t, db.Name, "SELECT 1 FROM pg_replication_slots WHERE slot_name = 's1'")) == 0
	}, "the slot to be dropped")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := in.Read(ctx)
	if err == nil || !strings.Contains(err.Error(), "replication slot s1 does not exist") || !strings.Contains(err.Error(), "when_needed") {
		t.Fatalf("got %v, want the missing slot named, and what to do", err)
	}
}

// TestServerCrashMidStream: the server killed while the input streams,
// and started again (cdctest.ServerCrashMidStream).
func TestServerCrashMidStream(t *testing.T) {
	srv := dbtest.New(t, dbtest.Postgres)
	db := srv.Database(t)
	db.Exec(t, "CREATE TABLE t (id int PRIMARY KEY)")
	cdctest.ServerCrashMidStream(t, cdctest.Crash{
		Stream: func(t *testing.T) engine.Input {
			in := started(t, db, "tables: [t]\nsnapshot_mode: no_data\nenvelope: row")
			streaming(t, db)
			return in
		},
		Exec: db.Exec,
		Kill: srv.Kill, Start: srv.Start,
	})
}

// TestUnknownUserIsFatal: a server that refuses the credentials stops the
// start (no retry mends it), naming the setting.
func TestUnknownUserIsFatal(t *testing.T) {
	db := newDB(t)
	dsn := strings.Replace(db.DSN, "pipeline", "nobody", 1)
	in := enginetest.NewInput(t, Plugin(), "cdc", fmt.Sprintf("dsn: %q\nslot: s1\n", dsn)).(*Input)
	err := in.Start(t.Context())
	in.Close(t.Context())
	if err == nil || !strings.Contains(err.Error(), "input.postgres_cdc.dsn: PostgreSQL refused the connection") {
		t.Fatalf("got %v", err)
	}
}

// TestReadAsTable: read as a join's table, the input snapshots under a
// temporary slot of its own, is caught up once the snapshot was read, then
// follows the table; its slot is gone once it closes.
func TestReadAsTable(t *testing.T) {
	db := newDB(t)
	db.Exec(t, "CREATE TABLE customers (id int PRIMARY KEY, name text); INSERT INTO customers VALUES (1, 'Ada'), (2, 'Bo')")
	in := newInput(t, db, "tables: [customers]\nenvelope: row\nsnapshot_mode: no_data")
	if err := in.ReadAsTable(); err != nil {
		t.Fatal(err)
	}
	enginetest.StartInput(t, in)
	recs, _ := read(t, in, 2)
	if recs[0].Op != engine.OpRead || string(recs[1].Key) != `{"id":2}` {
		t.Fatalf("snapshot as a table: %s", cdctest.Describe(recs))
	}
	cdctest.WaitFor(t, in.CaughtUp, "CaughtUp after the snapshot")
	slots := db.Server.Query(t, db.Name, "SELECT slot_name, temporary FROM pg_replication_slots WHERE slot_name LIKE 's1_table_%'")
	if len(slots) != 1 || slots[0][1] != "t" {
		t.Fatalf("slots %v, want one temporary slot s1_table_…", slots)
	}
	db.Exec(t, "DELETE FROM customers WHERE id = 1")
	recs, _ = read(t, in, 2)
	if recs[0].Op != engine.OpDelete || !recs[1].IsTombstone() {
		t.Fatalf("a delete followed: %s", cdctest.Describe(recs))
	}
	in.Close(t.Context())
	cdctest.WaitFor(t, func() bool {
		return len(db.Server.Query(t, db.Name, "SELECT 1 FROM pg_replication_slots WHERE slot_name LIKE 's1_table_%'")) == 0
	}, "the temporary slot to go with the connection")
}
