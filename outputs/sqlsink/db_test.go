package sqlsink

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/conformance"
	"github.com/pipelinehq/pipeline/engine/enginetest"
	"github.com/pipelinehq/pipeline/internal/dbtest"
)

type testDB = dbtest.Database

var forEachDB = dbtest.ForEach

func newOutput(t *testing.T, db testDB, fields string) *Output {
	t.Helper()
	fields = fmt.Sprintf("driver: %s\ndsn: %q\n%s", db.Driver, db.DSN, fields)
	return enginetest.NewOutput(t, Plugin(), "sql", fields).(*Output)
}

func started(t *testing.T, db testDB, fields string) *Output {
	t.Helper()
	o := newOutput(t, db, fields)
	if err := o.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close(context.Background()) })
	return o
}

var tables atomic.Int64

// TestConformance runs the output suite on each server: records are
// inserted as rows (seq, k, v) and read back in seq order with psql and
// mariadb; a value longer than a CHECK allows is the row the database
// refuses.
func TestConformance(t *testing.T) {
	forEachDB(t, func(t *testing.T, db testDB) {
		conformance.TestOutput(t, conformance.OutputHarness{
			KeepsKeys:    true,
			NoTombstones: "a tombstone deletes its key's row (TestUpsertAndDelete)",
			Unwritable: func() *engine.Record {
				return engine.NewRecord([]byte(`{"n":-1,"s":"`+strings.Repeat("x", 300)+`"}`), engine.JSON)
			},
			Sink: func(t *testing.T) conformance.OutputSink {
				table := fmt.Sprintf("conf%d", tables.Add(1))
				db.Exec(t, db.Pick(
					"CREATE TABLE "+table+" (seq bigserial PRIMARY KEY, k text, v text NOT NULL CHECK (length(v) < 200))",
					"CREATE TABLE "+table+" (seq BIGINT AUTO_INCREMENT PRIMARY KEY, k TEXT, v TEXT NOT NULL, CHECK (length(v) < 200))"))
				return conformance.OutputSink{
					New: func(t *testing.T) engine.Output {
						return newOutput(t, db, "table: "+table+"\nmode: insert\ndelete: false\ncolumns: {k: key, v: value}\n")
					},
					ReadBack: func(t *testing.T, n int) []conformance.Record {
						var out []conformance.Record
						for _, row := range db.Server.Query(t, db.Name, "SELECT k, v FROM "+table+" ORDER BY seq") {
							out = append(out, conformance.Record{Key: []byte(row[0]), Value: []byte(row[1])})
						}
						return out
					},
				}
			},
		})
	})
}
