package sqlpoll

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/enginetest"
	"github.com/pipelinehq/pipeline/internal/dbtest"
)

// testDB is a fresh database on a real server, with the driver name the
// input's config takes.
type testDB struct {
	server *dbtest.Server
	name   string
	dsn    string
	driver string
}

func (d testDB) exec(t testing.TB, sql string) { t.Helper(); d.server.Exec(t, d.name, sql) }

func (d testDB) pg() bool { return d.server.Kind == dbtest.Postgres }

// pick is the statement for this server's dialect.
func (d testDB) pick(postgres, mysql string) string {
	if d.pg() {
		return postgres
	}
	return mysql
}

// forEachDB runs f against a fresh database on PostgreSQL and on MariaDB.
func forEachDB(t *testing.T, f func(t *testing.T, db testDB)) {
	for _, kind := range []dbtest.Kind{dbtest.Postgres, dbtest.MariaDB} {
		t.Run(string(kind), func(t *testing.T) {
			s := dbtest.Shared(t, kind)
			name, dsn := s.NewDatabase(t)
			driver := "postgres"
			if kind == dbtest.MariaDB {
				driver = "mysql"
			}
			f(t, testDB{server: s, name: name, dsn: dsn, driver: driver})
		})
	}
}

// newInput builds a sql_poll input from YAML fields (dsn and driver added).
func newInput(t *testing.T, db testDB, fields string) *Input {
	t.Helper()
	fields = fmt.Sprintf("driver: %s\ndsn: %q\npoll_interval: 50ms\n%s", db.driver, db.dsn, fields)
	return enginetest.NewInput(t, Plugin(), "sql", fields).(*Input)
}

// started is newInput, resumed from points and started; it is closed by
// the test's cleanup.
func started(t *testing.T, db testDB, fields string, points ...engine.Checkpoint) *Input {
	t.Helper()
	in := newInput(t, db, fields)
	if len(points) > 0 {
		if err := in.Resume(points); err != nil {
			t.Fatal(err)
		}
	}
	if err := in.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(context.Background()) })
	return in
}

// readBatches reads until n records came, failing after 20s.
func readBatches(t *testing.T, in *Input, n int) []engine.InputBatch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []engine.InputBatch
	got := 0
	for got < n {
		b, err := in.Read(ctx)
		if err != nil {
			t.Fatalf("after %d of %d records: %v", got, n, err)
		}
		out = append(out, b)
		got += len(b.Records)
	}
	if got != n {
		t.Fatalf("read %d records, want %d", got, n)
	}
	return out
}

// nothingMore checks that no record comes within a few polls.
func nothingMore(t *testing.T, in *Input) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if b, err := in.Read(ctx); err == nil {
		t.Fatalf("unexpected batch of %d records: %s", len(b.Records), values(t, b.Records))
	}
}

func values(t *testing.T, recs []*engine.Record) string {
	t.Helper()
	var parts []string
	for _, r := range recs {
		v, err := r.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, string(r.Key)+"="+string(v))
	}
	return strings.Join(parts, "\n")
}

func allRecords(bs []engine.InputBatch) []*engine.Record {
	var out []*engine.Record
	for _, b := range bs {
		out = append(out, b.Records...)
	}
	return out
}
