package pgcdc

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/inputs/internal/capture"
)

// snapshot reads every table whole in one REPEATABLE READ transaction:
// under the slot's exported snapshot when there is one (exported), so that
// the stream from the slot's consistent point begins where the snapshot
// ends. Rows are read events (op r). Every batch but the last carries a
// snapshot position; the last carries streamFrom, since the snapshot is
// then done. Its last row is marked snapshot "last", as Debezium does.
func (in *Input) snapshot(ctx context.Context, conn *pgx.Conn, tables []tableName, exported string, streamFrom pglogrepl.LSN, conv *converters) error {
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if exported != "" {
		if _, err := tx.Exec(ctx, "SET TRANSACTION SNAPSHOT '"+exported+"'"); err != nil {
			return fmt.Errorf("snapshot: taking the slot's exported snapshot: %w", err)
		}
	}
	s := snapshotter{in: in, at: streamFrom, o: origin{commitTime: time.Now(), snapshot: "true"},
		batches: capture.NewSnapshot(in.batchMax, in.events.MarkFirst)}
	for _, t := range tables {
		if err := s.table(ctx, conn, t, conv); err != nil {
			return err
		}
	}
	rest := s.batches.Rest()
	if len(rest) == 0 {
		return nil
	}
	in.events.MarkLast(rest[len(rest)-1])
	in.log.Info("snapshot done", "tables", len(tables), "rows", s.batches.Rows())
	return in.hand(ctx, rest, position{lsn: streamFrom}, nil)
}

// snapshotter is a snapshot under way.
type snapshotter struct {
	in      *Input
	at      pglogrepl.LSN
	o       origin
	batches *capture.Snapshot
}

func (s *snapshotter) table(ctx context.Context, conn *pgx.Conn, t tableName, conv *converters) error {
	key, err := primaryKey(ctx, conn, t)
	if err != nil {
		return fmt.Errorf("snapshot of %s: %w", t, err)
	}
	rr := conn.PgConn().ExecParams(ctx, "SELECT * FROM "+t.quoted(), nil, nil, nil, nil)
	fields := rr.FieldDescriptions()
	names := make([]string, len(fields))
	oids := make([]uint32, len(fields))
	for i, f := range fields {
		names[i], oids[i] = f.Name, f.DataTypeOID
	}
	rel := s.in.newRelation(t, names, oids, key, conv)
	flush := s.flush(ctx)
	tuple := &pglogrepl.TupleData{Columns: make([]*pglogrepl.TupleDataColumn, len(fields))}
	for rr.NextRow() {
		for i, v := range rr.Values() {
			c := &pglogrepl.TupleDataColumn{DataType: pglogrepl.TupleDataTypeText, Data: v}
			if v == nil {
				c.DataType = pglogrepl.TupleDataTypeNull
			}
			tuple.Columns[i] = c
		}
		row, err := s.in.row(rel, tuple)
		if err != nil {
			rr.Close()
			return capture.Fatalf("snapshot: %w", err)
		}
		recs, err := s.in.records(change{rel: rel, op: engine.OpRead, after: row, lsn: s.at}, s.o)
		if err != nil {
			rr.Close()
			return capture.Fatalf("snapshot of %s: %w", t, err)
		}
		if err := s.batches.Add(recs, flush); err != nil {
			rr.Close()
			return err
		}
	}
	if _, err := rr.Close(); err != nil {
		return fmt.Errorf("snapshot of %s: %w", t, err)
	}
	return nil
}

// flush hands on a full batch with the snapshot's position.
func (s *snapshotter) flush(ctx context.Context) func([]*engine.Record, int64) error {
	return func(batch []*engine.Record, rows int64) error {
		return s.in.hand(ctx, batch, position{lsn: s.at, snapshot: true, rows: rows}, nil)
	}
}
