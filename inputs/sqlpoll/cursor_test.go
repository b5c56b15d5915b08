package sqlpoll

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/internal/dbtest"
)

func createEvents(t *testing.T, db testDB) {
	t.Helper()
	db.Exec(t, db.Pick(
		`CREATE TABLE events (id bigint PRIMARY KEY, name text NOT NULL, ts timestamp(6) NOT NULL); CREATE INDEX ON events (ts)`,
		`CREATE TABLE events (id BIGINT PRIMARY KEY, name TEXT NOT NULL, ts DATETIME(6) NOT NULL, KEY (ts))`))
}

// TestTimestampPositionWaitsForEveryRowOfATimestamp: in timestamp mode a
// batch's position passes a timestamp only once every row with it was
// read (confluentinc/kafka-connect-jdbc#1093): rows at T1, T1, T2, T2, T3
// read one per batch give positions none, T1, T1, T2, T3; a restart from
// any of them loses no row.
func TestTimestampPositionWaitsForEveryRowOfATimestamp(t *testing.T) {
	forEachDB(t, func(t *testing.T, db testDB) {
		createEvents(t, db)
		db.Exec(t, `INSERT INTO events VALUES (1, 'a', '2020-01-01 00:00:01'), (2, 'b', '2020-01-01 00:00:01'),
			(3, 'c', '2020-01-01 00:00:02'), (4, 'd', '2020-01-01 00:00:02'), (5, 'e', '2020-01-01 00:00:03')`)
		fields := "table: events\nmode: timestamp\ntimestamp_columns: [ts]\nbatch_max_rows: 1\n"
		in := started(t, db, fields)
		var positions []string
		batches := readBatches(t, in, 5)
		for _, b := range batches {
			positions = append(positions, b.Position.String())
		}
		want := []string{"{}", `{"timestamp":"2020-01-01T00:00:01Z"}`, `{"timestamp":"2020-01-01T00:00:01Z"}`,
			`{"timestamp":"2020-01-01T00:00:02Z"}`, `{"timestamp":"2020-01-01T00:00:03Z"}`}
		if strings.Join(positions, " ") != strings.Join(want, " ") {
			t.Fatalf("positions\n%s\nwant\n%s", strings.Join(positions, "\n"), strings.Join(want, "\n"))
		}
		// Restarted from the third batch's position (after the rows of T1),
		// it reads both rows of T2 and the one of T3: nothing lost.
		again := started(t, db, fields, engine.Checkpoint{Partition: "events", Position: batches[2].Position})
		got := names(t, allRecords(readBatches(t, again, 3)))
		if got != "c d e" {
			t.Errorf("resumed after T1: %s, want c d e", got)
		}
		nothingMore(t, again)
	})
}

func names(t *testing.T, recs []*engine.Record) string {
	t.Helper()
	var out []string
	for _, r := range recs {
		v, err := r.Value()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint(v.(map[string]any)["name"]))
	}
	return strings.Join(out, " ")
}

// TestTimestampIncrementingReadsChangesOnce: rows sharing a timestamp are
// told apart by the id; an update (a later timestamp) is read once, with
// its new fields; the key is the primary key and the event time the
// row's timestamp.
func TestTimestampIncrementingReadsChangesOnce(t *testing.T) {
	forEachDB(t, func(t *testing.T, db testDB) {
		createEvents(t, db)
		db.Exec(t, `INSERT INTO events VALUES (1, 'a', '2020-01-01 00:00:01'), (2, 'b', '2020-01-01 00:00:01'), (3, 'c', '2020-01-01 00:00:01')`)
		fields := "table: events\nmode: timestamp+incrementing\ntimestamp_columns: [ts]\nincrementing_column: id\nbatch_max_rows: 2\n"
		in := started(t, db, fields)
		bs := readBatches(t, in, 3)
		if got := names(t, allRecords(bs)); got != "a b c" {
			t.Fatalf("read %s", got)
		}
		last := bs[len(bs)-1]
		if got := last.Position.String(); got != `{"timestamp":"2020-01-01T00:00:01Z","incrementing":3}` {
			t.Errorf("position %s", got)
		}
		r := last.Records[len(last.Records)-1]
		if string(r.Key) != "3" || r.Timestamp != time.Date(2020, 1, 1, 0, 0, 1, 0, time.UTC).UnixMilli() || r.Source.Partition != "events" {
			t.Errorf("record key %q timestamp %d partition %s", r.Key, r.Timestamp, r.Source.Partition)
		}
		nothingMore(t, in)
		db.Exec(t, `UPDATE events SET name = 'b2', ts = '2020-01-01 00:00:05' WHERE id = 2`)
		if got := names(t, allRecords(readBatches(t, in, 1))); got != "b2" {
			t.Errorf("after the update: %s", got)
		}
		nothingMore(t, in)
	})
}

// TestKnownLimitALateRowIsSkipped: a row committed after rows with later
// cursors were read is never read (the limit the README states; CDC is
// the cure), and timestamp_delay keeps a poll behind the database's clock
// so that rows younger than it wait for a later poll.
func TestKnownLimitALateRowIsSkipped(t *testing.T) {
	forEachDB(t, func(t *testing.T, db testDB) {
		createEvents(t, db)
		db.Exec(t, `INSERT INTO events VALUES (1, 'a', '2020-01-01 00:00:01'), (3, 'c', '2020-01-01 00:00:03')`)
		in := started(t, db, "table: events\nmode: incrementing\nincrementing_column: id\n")
		if got := names(t, allRecords(readBatches(t, in, 2))); got != "a c" {
			t.Fatalf("read %s", got)
		}
		db.Exec(t, `INSERT INTO events VALUES (2, 'late', '2020-01-01 00:00:02'), (4, 'd', '2020-01-01 00:00:04')`)
		if got := names(t, allRecords(readBatches(t, in, 1))); got != "d" {
			t.Errorf("after a late id 2 and id 4: read %s, want d alone (id 2 is below the cursor)", got)
		}

		delayed := started(t, db, "table: events\nmode: timestamp\ntimestamp_columns: [ts]\ntimestamp_delay: 3s\n")
		readBatches(t, delayed, 4)
		db.Exec(t, db.Pick(`INSERT INTO events VALUES (5, 'fresh', now())`, `INSERT INTO events VALUES (5, 'fresh', NOW(6))`))
		nothingMore(t, delayed) // younger than the delay
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		began := time.Now()
		b, err := delayed.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := names(t, b.Records); got != "fresh" {
			t.Errorf("read %s", got)
		}
		t.Logf("the fresh row came %v after the first wait", time.Since(began).Round(time.Millisecond))
	})
}

// TestStartErrorsNameTheSetting: each mistake stops the start with an
// error that names the setting to fix.
func TestStartErrorsNameTheSetting(t *testing.T) {
	forEachDB(t, func(t *testing.T, db testDB) {
		db.Exec(t, db.Pick(
			`CREATE TABLE plain (id bigint NOT NULL, label text NOT NULL, maybe timestamp, at timestamp NOT NULL)`,
			`CREATE TABLE plain (id BIGINT NOT NULL, label TEXT NOT NULL, maybe DATETIME NULL, at DATETIME NOT NULL)`))
		wrongPassword := strings.Replace(db.DSN, db.Server.Password, "wrong-password", 1)
		tests := []struct{ fields, want string }{
			{"table: nosuch\nmode: bulk\n", "input.sql_poll.table: table nosuch does not exist"},
			{"table: plain\nmode: incrementing\nincrementing_column: idd\n", `input.sql_poll.incrementing_column: table plain has no column "idd", did you mean "id"?`},
			{"table: plain\nmode: incrementing\nincrementing_column: label\n", "input.sql_poll.incrementing_column: column label is"},
			{"table: plain\nmode: incrementing\nincrementing_column: id\n", "input.sql_poll.incrementing_column: no index of table plain begins with id"},
			{"table: plain\nmode: timestamp\ntimestamp_columns: [maybe]\nallow_unindexed: true\n", "input.sql_poll.timestamp_columns: maybe can be NULL"},
			{"table: plain\nmode: timestamp\ntimestamp_columns: [label]\n", "input.sql_poll.timestamp_columns: column label is"},
			{"query: SELECT nonsense FROM\nmode: bulk\n", "input.sql_poll.query: the query fails"},
		}
		for _, tt := range tests {
			err := newInput(t, db, tt.fields).Start(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s: error %v\nwant it to contain %q", strings.ReplaceAll(tt.fields, "\n", "; "), err, tt.want)
			}
		}
		in := newInput(t, testDB{Server: db.Server, Name: db.Name, DSN: wrongPassword, Driver: db.Driver}, "table: plain\nmode: bulk\n")
		err := in.Start(context.Background())
		if err == nil || !strings.Contains(err.Error(), "input.sql_poll.dsn: cannot connect") || strings.Contains(err.Error(), "wrong-password") {
			t.Errorf("wrong password: %v", err)
		}
		// Unindexed but allowed, and the not-null cursor: it starts.
		ok := started(t, db, "table: plain\nmode: incrementing\nincrementing_column: id\nallow_unindexed: true\n")
		nothingMore(t, ok)
	})
}

// TestPollGoesOnAfterTheServerRestarts: the server crashes mid-stream and
// comes back; the input polls again from the last row it handed on and
// reads every row once.
func TestPollGoesOnAfterTheServerRestarts(t *testing.T) {
	for _, kind := range []dbtest.Kind{dbtest.Postgres, dbtest.MariaDB} {
		t.Run(string(kind), func(t *testing.T) {
			s := dbtest.New(t, kind)
			db := s.Database(t)
			createEvents(t, db)
			insertEvents(t, db, 1, 3000)
			in := started(t, db, "table: events\nmode: incrementing\nincrementing_column: id\nbatch_max_rows: 100\n")
			first := allRecords(readBatches(t, in, 500))
			s.Kill(t)
			s.Start(t)
			insertEvents(t, db, 3001, 4000)
			rest := allRecords(readBatches(t, in, 3500))
			seen := map[int64]bool{}
			for _, r := range append(first, rest...) {
				if seen[r.Offset] {
					t.Fatalf("id %d read twice", r.Offset)
				}
				seen[r.Offset] = true
			}
			if len(seen) != 4000 {
				t.Fatalf("read %d distinct ids, want 4000", len(seen))
			}
			if err := in.Ready(); err != nil {
				t.Errorf("ready after the restart: %v", err)
			}
		})
	}
}

func insertEvents(t *testing.T, db testDB, from, to int) {
	t.Helper()
	var b strings.Builder
	for i := from; i <= to; i++ {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "(%d, 'e%d', '2020-01-01 00:00:00')", i, i)
	}
	db.Exec(t, "INSERT INTO events VALUES "+b.String())
}

// TestCustomQuery: a query with a join and a WHERE of its own is polled in
// timestamp+incrementing mode on its result columns; its partition is
// "query", and without key_columns its records have no key.
func TestCustomQuery(t *testing.T) {
	forEachDB(t, func(t *testing.T, db testDB) {
		createEvents(t, db)
		db.Exec(t, `CREATE TABLE kinds (name varchar(16) PRIMARY KEY, kind varchar(16) NOT NULL)`)
		db.Exec(t, `INSERT INTO kinds VALUES ('a', 'letter'), ('b', 'letter'), ('x', 'test')`)
		db.Exec(t, `INSERT INTO events VALUES (1, 'a', '2020-01-01 00:00:01'), (2, 'x', '2020-01-01 00:00:01'), (3, 'b', '2020-01-01 00:00:02')`)
		in := started(t, db, "query: SELECT e.id, e.name, e.ts, k.kind FROM events e JOIN kinds k ON k.name = e.name WHERE k.kind <> 'test'\n"+
			"mode: timestamp+incrementing\ntimestamp_columns: [ts]\nincrementing_column: id\n")
		bs := readBatches(t, in, 2)
		if got := names(t, allRecords(bs)); got != "a b" {
			t.Fatalf("read %s, want a b", got)
		}
		r := bs[len(bs)-1].Records[len(bs[len(bs)-1].Records)-1]
		if r.Source.Partition != "query" || r.Key != nil || bs[len(bs)-1].Partition != "query" {
			t.Errorf("partition %s key %q", r.Source.Partition, r.Key)
		}
		db.Exec(t, `INSERT INTO events VALUES (4, 'a', '2020-01-01 00:00:03'), (5, 'x', '2020-01-01 00:00:03')`)
		if got := names(t, allRecords(readBatches(t, in, 1))); got != "a" {
			t.Errorf("then %s, want a", got)
		}
		nothingMore(t, in)
	})
}
