package mysqlcdc

import (
	"context"
	"testing"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/inputs/internal/cdctest"
	"github.com/pipelinehq/pipeline/internal/sqldb"
)

// TestSnapshotUnderConcurrentWrites: a 100k-row table snapshotted while
// another connection inserts, updates and deletes; the table rebuilt from
// the records, applied in order, is the database's at the end, exactly.
func TestSnapshotUnderConcurrentWrites(t *testing.T) {
	db := newDB(t)
	db.Exec(t, "CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL, s text NOT NULL)")
	db.Exec(t, "INSERT INTO t SELECT seq, seq % 1000, CONCAT('row ', seq) FROM seq_1_to_100000")
	conn, err := sqldb.Open(sqldb.MySQL, db.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cdctest.SnapshotUnderWrites(t, 100_000, cdctest.Database{
		Exec: func(ctx context.Context, q string) error {
			_, err := conn.ExecContext(ctx, q)
			return err
		},
		Start: func(t *testing.T) engine.Input {
			return started(t, db, "tables: [t]\nenvelope: row\ntombstones_on_delete: false\n")
		},
		Query: func(t *testing.T, q string) [][]string { return db.Server.Query(t, db.Name, q) },
	})
}
