package mysqlcdc

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/inputs/internal/capture"
)

// snapshot reads every captured table whole in one consistent-snapshot
// transaction, and learns the binlog position that transaction sees up
// to, so that streaming from it begins where the snapshot ends. Rows are
// read events (op r). Every batch but the last carries a snapshot
// position; the last carries the streaming position, since the snapshot
// is then done. Its last row is marked snapshot "last", as Debezium does.
func (in *Input) snapshot(ctx context.Context, db *sql.DB) (position, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return position{}, fmt.Errorf("snapshot: %w", err)
	}
	defer conn.Close()
	at, err := in.beginSnapshot(ctx, conn)
	if err != nil {
		return position{}, err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
	s := snapshotter{in: in, at: at, readAt: time.Now(), batches: capture.NewSnapshot(in.batchMax, in.events.MarkFirst)}
	for _, t := range sortedTables(in.server.tables) {
		if err := s.table(ctx, conn, t); err != nil {
			return position{}, err
		}
	}
	done := position{file: at.file, offset: at.offset}
	rest := s.batches.Rest()
	if len(rest) == 0 {
		return done, in.hand(ctx, nil, done)
	}
	in.events.MarkLast(rest[len(rest)-1])
	in.log.Info("snapshot done", "tables", len(in.server.tables), "rows", s.batches.Rows(), "binlog", done.String())
	return done, in.hand(ctx, rest, done)
}

// beginSnapshot starts the snapshot's transaction and returns the binlog
// position it is consistent with. MariaDB tells it without a lock
// (binlog_snapshot_file); MySQL's position is read under a brief global
// read lock, as Debezium does.
func (in *Input) beginSnapshot(ctx context.Context, conn *sql.Conn) (position, error) {
	if _, err := conn.ExecContext(ctx, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ"); err != nil {
		return position{}, fmt.Errorf("snapshot: %w", err)
	}
	if in.server.flavor == "mariadb" {
		if _, err := conn.ExecContext(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"); err != nil {
			return position{}, fmt.Errorf("snapshot: %w", err)
		}
		var p position
		rows, err := conn.QueryContext(ctx, "SHOW STATUS LIKE 'binlog_snapshot_%'")
		if err != nil {
			return position{}, fmt.Errorf("snapshot: reading its binlog position: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var name, value string
			if err := rows.Scan(&name, &value); err != nil {
				return position{}, err
			}
			switch strings.ToLower(name) {
			case "binlog_snapshot_file":
				p.file = value
			case "binlog_snapshot_position":
				var off uint32
				fmt.Sscan(value, &off)
				p.offset = off
			}
		}
		if p.file == "" || p.offset < 4 {
			return position{}, fmt.Errorf("snapshot: the server gave no binlog position for it")
		}
		return p, rows.Err()
	}
	if _, err := conn.ExecContext(ctx, "FLUSH TABLES WITH READ LOCK"); err != nil {
		return position{}, fmt.Errorf("snapshot: taking the global read lock (the user needs RELOAD): %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "UNLOCK TABLES")
	if _, err := conn.ExecContext(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"); err != nil {
		return position{}, fmt.Errorf("snapshot: %w", err)
	}
	return binlogEnd(ctx, conn)
}

// queryer is what both *sql.DB and *sql.Conn do.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// binlogEnd is the position the server's next transaction will be
// written at.
func binlogEnd(ctx context.Context, q queryer) (position, error) {
	rows, err := q.QueryContext(ctx, "SHOW MASTER STATUS")
	if err != nil {
		// MySQL 8.4 knows only the new name.
		rows, err = q.QueryContext(ctx, "SHOW BINARY LOG STATUS")
	}
	if err != nil {
		return position{}, fmt.Errorf("reading the binlog position: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return position{}, err
	}
	if !rows.Next() {
		return position{}, fmt.Errorf("the server writes no binlog (SHOW MASTER STATUS is empty)")
	}
	vals := make([]any, len(cols))
	var file string
	var offset uint32
	vals[0], vals[1] = &file, &offset
	for i := 2; i < len(vals); i++ {
		vals[i] = new(sql.RawBytes)
	}
	if err := rows.Scan(vals...); err != nil {
		return position{}, err
	}
	return position{file: file, offset: offset}, rows.Err()
}

// snapshotter is a snapshot under way.
type snapshotter struct {
	in      *Input
	at      position
	readAt  time.Time
	batches *capture.Snapshot
}

func (s *snapshotter) table(ctx context.Context, conn *sql.Conn, t tableName) error {
	rows, err := conn.QueryContext(ctx, "SELECT * FROM "+t.quoted())
	if err != nil {
		return fmt.Errorf("snapshot of %s: %w", t, err)
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return fmt.Errorf("snapshot of %s: %w", t, err)
	}
	rel := s.in.newRelation(t, snapshotColumns(types, s.in.mapping), s.in.server.tables[t])
	vals := make([]any, len(types))
	ptrs := make([]any, len(types))
	flush := func(batch []*engine.Record, rows int64) error {
		snap := s.at
		snap.snapshot, snap.rows = true, rows
		return s.in.hand(ctx, batch, snap)
	}
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("snapshot of %s: %w", t, err)
		}
		row, err := rel.row(vals)
		if err != nil {
			return capture.Fatalf("snapshot: %w", err)
		}
		recs, err := s.in.records(rel, engine.OpRead, nil, row, origin{at: s.readAt, file: s.at.file, offset: s.at.offset, snapshot: "true"})
		if err != nil {
			return capture.Fatalf("snapshot of %s: %w", t, err)
		}
		if err := s.batches.Add(recs, flush); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("snapshot of %s: %w", t, err)
	}
	return nil
}
