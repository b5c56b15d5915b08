package mysqlcdc

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/enginetest"
	"github.com/pipelinehq/pipeline/inputs/internal/cdctest"
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

// read reads batches until n records came, failing after 20s.
func read(t *testing.T, in *Input, n int) ([]*engine.Record, engine.Position) {
	t.Helper()
	return cdctest.Read(t, in, n, partition)
}
