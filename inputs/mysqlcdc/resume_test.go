package mysqlcdc

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/enginetest"
	"github.com/pipelinehq/pipeline/inputs/internal/cdctest"
	"github.com/pipelinehq/pipeline/internal/dbtest"
)

// TestResumeInsideATransaction: a transaction split over batches, resumed
// from the first batch's position, gives the rest of it exactly: nothing
// lost, nothing repeated.
func TestResumeInsideATransaction(t *testing.T) {
	db := newDB(t)
	db.Exec(t, "CREATE TABLE t (id int PRIMARY KEY, v text)")
	fields := "tables: [t]\nsnapshot_mode: no_data\nbatch_max_events: 3\nenvelope: row\n"
	in := started(t, db, fields)
	waitStreaming(t, in)
	var rows []string
	for i := 1; i <= 5; i++ {
		rows = append(rows, fmt.Sprintf("(%d, 'v%d')", i, i))
	}
	db.Exec(t, "BEGIN; INSERT INTO t VALUES "+strings.Join(rows, ", ")+"; INSERT INTO t VALUES (6, 'v6'); COMMIT")
	first, pos := read(t, in, 3)
	if cdctest.Keys(first) != `{"id":1} {"id":2} {"id":3}` || !pos.Has("events") {
		t.Fatalf("first batch %s at %s", cdctest.Keys(first), pos)
	}
	in.Close(context.Background())
	again := started(t, db, fields, engine.Checkpoint{Partition: partition, Position: pos})
	rest, _ := read(t, again, 3)
	if cdctest.Keys(rest) != `{"id":4} {"id":5} {"id":6}` {
		t.Fatalf("after a restart at %s: %s, want ids 4, 5, 6", pos, cdctest.Keys(rest))
	}
	// The batch filled before the commit: the next heartbeat moves the
	// position past the transaction.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := again.Read(ctx)
	if err != nil || len(b.Records) != 0 {
		t.Fatalf("after the transaction: %v, %v; want a heartbeat", cdctest.Describe(b.Records), err)
	}
	if n, _ := b.Position.Int("events"); n != 0 {
		t.Errorf("the heartbeat after the transaction is at %s, want past it (events 0)", b.Position)
	}
	cdctest.ReadNothing(t, again, 500*time.Millisecond)
}

// TestAlterTableBetweenChanges: changes written before and after an ALTER
// TABLE, read only after it, are each decoded with the columns they were
// written with.
func TestAlterTableBetweenChanges(t *testing.T) {
	db := newDB(t)
	db.Exec(t, "CREATE TABLE t (id int PRIMARY KEY, a text, b int)")
	fields := "tables: [t]\nsnapshot_mode: no_data\nenvelope: row\n"
	in := started(t, db, fields)
	waitStreaming(t, in)
	db.Exec(t, "INSERT INTO t VALUES (1, 'x', 10)")
	recs, pos := read(t, in, 1)
	in.Close(context.Background())
	db.Exec(t, `INSERT INTO t VALUES (2, 'y', 20);
		ALTER TABLE t DROP COLUMN a, ADD COLUMN c varchar(8) FIRST;
		INSERT INTO t (id, b, c) VALUES (3, 30, 'z');
		ALTER TABLE t DROP PRIMARY KEY, ADD PRIMARY KEY (id, b)`)
	db.Exec(t, "INSERT INTO t (id, b, c) VALUES (4, 40, 'w')")
	again := started(t, db, fields, engine.Checkpoint{Partition: partition, Position: pos})
	recs, _ = read(t, again, 3)
	got := []string{}
	for _, r := range recs {
		v, _ := r.Bytes()
		got = append(got, string(r.Key)+" "+string(v))
	}
	want := []string{
		`{"id":2} {"a":"y","b":20,"id":2}`,
		`{"id":3} {"b":30,"c":"z","id":3}`,
		`{"b":40,"id":4} {"b":40,"c":"w","id":4}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestIdleTablesMoveThePositionOn: while the captured table is idle and
// another table is written, a batch without records moves the position
// past those writes, once per heartbeat.
func TestIdleTablesMoveThePositionOn(t *testing.T) {
	db := newDB(t)
	db.Exec(t, "CREATE TABLE t (id int PRIMARY KEY); CREATE TABLE other (id int PRIMARY KEY)")
	in := started(t, db, "tables: [t]\nsnapshot_mode: no_data\n")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := in.Read(ctx) // no_data commits where it starts
	if err != nil || len(b.Records) != 0 {
		t.Fatalf("first batch %v, %v: want the starting position alone", b, err)
	}
	start, _ := b.Position.Int("pos")
	db.Exec(t, "INSERT INTO other VALUES (1), (2)")
	b, err = in.Read(ctx)
	if err != nil || len(b.Records) != 0 {
		t.Fatalf("batch %v, %v: want a heartbeat without records", b, err)
	}
	if moved, _ := b.Position.Int("pos"); moved <= start {
		t.Fatalf("heartbeat at %s, not past the start %d", b.Position, start)
	}
}

// TestStartRefuses: a server whose binlog cannot serve change capture, or
// a missing table, stops the start with an error saying what to change.
func TestStartRefuses(t *testing.T) {
	db := newDB(t)
	db.Exec(t, "CREATE TABLE t (id int PRIMARY KEY)")
	in := newInput(t, db, "tables: [nope]")
	if err := in.Start(t.Context()); err == nil || !strings.Contains(err.Error(), "table "+db.Name+".nope does not exist") {
		t.Errorf("missing table: %v", err)
	}
	in.Close(t.Context())
	db.Exec(t, "SET GLOBAL binlog_row_metadata = 'MINIMAL'")
	t.Cleanup(func() { db.Server.TryExec(db.Name, "SET GLOBAL binlog_row_metadata = 'FULL'") })
	in = newInput(t, db, "tables: [t]")
	err := in.Start(t.Context())
	in.Close(t.Context())
	if err == nil || !strings.Contains(err.Error(), "binlog_row_metadata = MINIMAL; change capture needs FULL: SET GLOBAL binlog_row_metadata = 'FULL'") {
		t.Errorf("binlog_row_metadata MINIMAL: %v", err)
	}
}

// waitStreaming reads the starting position no_data hands on first.
func waitStreaming(t *testing.T, in *Input) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := in.Read(ctx)
	if err != nil || len(b.Records) != 0 {
		t.Fatalf("first batch %v, %v: want the starting position alone", b, err)
	}
}

// TestBinlogGone: a committed position whose binlog file the server purged
// is an error saying what was lost and what to do; with when_needed the
// tables are read again instead.
func TestBinlogGone(t *testing.T) {
	db := newDB(t)
	db.Exec(t, "CREATE TABLE t (id int PRIMARY KEY)")
	fields := "tables: [t]\nsnapshot_mode: no_data\n"
	in := started(t, db, fields)
	waitStreaming(t, in)
	db.Exec(t, "INSERT INTO t VALUES (1)")
	_, pos := read(t, in, 1)
	in.Close(context.Background())
	// The server keeps a file a reader still reads: the one just closed
	// may take a moment to go.
	cdctest.WaitFor(t, func() bool {
		return db.Server.Query(t, db.Name, "SELECT count(*) FROM information_schema.processlist WHERE command LIKE 'Binlog Dump%'")[0][0] == "0"
	}, "the binlog readers to leave")
	db.Exec(t, "FLUSH BINARY LOGS")
	current := db.Server.Query(t, db.Name, "SHOW MASTER STATUS")[0][0]
	// A file is purged only once the engines no longer need it for crash
	// recovery (MariaDB's binlog checkpoint).
	cdctest.WaitFor(t, func() bool {
		db.Exec(t, "FLUSH ENGINE LOGS; PURGE BINARY LOGS TO '"+current+"'")
		return db.Server.Query(t, db.Name, "SHOW BINARY LOGS")[0][0] == current
	}, "the old binlog files to be purged")
	from := engine.Checkpoint{Partition: partition, Position: pos}

	gone := started(t, db, "tables: [t]\nsnapshot_mode: initial\n", from)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := gone.Read(ctx)
	for err == nil && len(b.Records) == 0 {
		b, err = gone.Read(ctx)
	}
	if err == nil || !strings.Contains(err.Error(), "is no longer on the server") || !strings.Contains(err.Error(), "when_needed") {
		t.Fatalf("reading from a purged file (%s; the server has %v): %v, %v", pos, db.Server.Query(t, db.Name, "SHOW BINARY LOGS"), cdctest.Describe(b.Records), err)
	}
	if gone.Ready() == nil {
		t.Error("Ready is nil after the capture ended")
	}

	again := started(t, db, "tables: [t]\nsnapshot_mode: when_needed\n", from)
	recs, _ := read(t, again, 1)
	if recs[0].Op != engine.OpRead || string(recs[0].Key) != `{"id":1}` {
		t.Fatalf("when_needed: %s, want the row read again", cdctest.Describe(recs))
	}
}

// TestServerCrashMidStream: the server killed while the input streams,
// and started again (cdctest.ServerCrashMidStream).
func TestServerCrashMidStream(t *testing.T) {
	srv := dbtest.New(t, dbtest.MariaDB)
	db := srv.Database(t)
	db.Exec(t, "CREATE TABLE t (id int PRIMARY KEY)")
	cdctest.ServerCrashMidStream(t, cdctest.Crash{
		Stream: func(t *testing.T) engine.Input {
			in := started(t, db, "tables: [t]\nsnapshot_mode: no_data\nenvelope: row\n")
			waitStreaming(t, in)
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
	dsn := strings.Replace(db.DSN, "pipeline:", "nobody:", 1)
	in := enginetest.NewInput(t, Plugin(), "cdc", fmt.Sprintf("dsn: %q\nserver_id: 77\n", dsn)).(*Input)
	err := in.Start(t.Context())
	in.Close(t.Context())
	if err == nil || !strings.Contains(err.Error(), "input.mysql_cdc.dsn: the server refused the connection") {
		t.Fatalf("got %v", err)
	}
}
