package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// The CDC benchmarks run against the SQL benchmarks' PostgreSQL: 1M row
// updates decoded from a replication slot, and a 1M-row table snapshotted,
// each beside a bare loop doing the same job with pglogrepl or pgx.

// cdcTableRows is the updated table's size: ten passes over it are the 1M
// changes.
const cdcTableRows = kafkaRecords / 10

var cdcOnce sync.Once

// cdcSetup makes the table cdc_t and its publication, once.
func cdcSetup(b *testing.B) {
	b.Helper()
	sqlSetup(b)
	cdcOnce.Do(func() {
		sqlSrv.Exec(b, sqlDB, fmt.Sprintf(`CREATE TABLE cdc_t (id bigint PRIMARY KEY, v int NOT NULL, s text NOT NULL);
			INSERT INTO cdc_t SELECT i, i %% 1000, 'row ' || i FROM generate_series(1, %d) i;
			CREATE PUBLICATION bench_cdc FOR TABLE cdc_t`, cdcTableRows))
	})
}

// cdcChanges makes a slot and then 1M updates (a thousand transactions of
// a thousand rows), so that the slot holds them all before it is read.
func cdcChanges(b *testing.B, slot string) {
	b.Helper()
	sqlSrv.Exec(b, sqlDB, "SELECT pg_create_logical_replication_slot('"+slot+"', 'pgoutput')")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, sqlDSN)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	for pass := 0; pass < 10; pass++ {
		for from := 0; from < cdcTableRows; from += 1000 {
			if _, err := conn.Exec(ctx, "UPDATE cdc_t SET v = v + 1 WHERE id > $1 AND id <= $2", from, from+1000); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkPostgresCDC: 1M updates, already in a slot, decoded:
// postgres_cdc (Debezium's envelope) → drop against a bare pglogrepl loop
// parsing every message and every column's text, confirming as it goes.
// The pipeline's count is its output's written-records counter.
func BenchmarkPostgresCDC(b *testing.B) {
	cdcSetup(b)
	bare := func(seq int64) window {
		slot := fmt.Sprintf("bench_bare_%d", seq)
		cdcChanges(b, slot)
		defer sqlSrv.Exec(b, sqlDB, "SELECT pg_drop_replication_slot('"+slot+"')")
		return observeLoop(b, func(n *atomic.Int64) error { return bareDecode(slot, n) })
	}
	pipe := func(seq int64) window {
		slot := fmt.Sprintf("bench_pipe_%d", seq)
		cdcChanges(b, slot)
		p, w, err := meteredPipeline(b, func(addr string) string {
			return fmt.Sprintf(`
input:
  postgres_cdc: { dsn: %q, tables: [cdc_t], slot: %s, publication: bench_cdc, snapshot_mode: no_data }
output: {drop: {}}
http: {address: %q}
`, sqlDSN, slot, addr)
		})
		p.stop(b)
		sqlSrv.Exec(b, sqlDB, "SELECT pg_drop_replication_slot('"+slot+"')")
		if err != nil {
			b.Fatal(err)
		}
		return w
	}
	for i := 0; i < b.N; i++ {
		roundsOf(b, 3, "PostgreSQL 1M updates → postgres_cdc → drop", "pipeline", "bare pglogrepl", bare, pipe, reportRows)
	}
}

// bareDecode reads slot until it decoded kafkaRecords updates, as a Go
// programmer would with pglogrepl: each message parsed, each column's text
// copied out, the received LSN confirmed every second.
func bareDecode(slot string, n *atomic.Int64) error {
	ctx := context.Background()
	cfg, err := pgconn.ParseConfig(sqlDSN)
	if err != nil {
		return err
	}
	cfg.RuntimeParams["replication"] = "database"
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if err := pglogrepl.StartReplication(ctx, conn, slot, 0, pglogrepl.StartReplicationOptions{
		PluginArgs: []string{"proto_version '1'", "publication_names 'bench_cdc'"}}); err != nil {
		return err
	}
	var received pglogrepl.LSN
	rels := map[uint32]*pglogrepl.RelationMessage{}
	nextStatus := time.Now().Add(time.Second)
	for n.Load() < kafkaRecords {
		if time.Now().After(nextStatus) {
			if err := pglogrepl.SendStandbyStatusUpdate(ctx, conn, pglogrepl.StandbyStatusUpdate{WALWritePosition: received}); err != nil {
				return err
			}
			nextStatus = time.Now().Add(time.Second)
		}
		rctx, cancel := context.WithDeadline(ctx, nextStatus)
		msg, err := conn.ReceiveMessage(rctx)
		cancel()
		if pgconn.Timeout(err) {
			continue
		}
		if err != nil {
			return err
		}
		cd, ok := msg.(*pgproto3.CopyData)
		if !ok || len(cd.Data) == 0 || cd.Data[0] != pglogrepl.XLogDataByteID {
			continue
		}
		xld, err := pglogrepl.ParseXLogData(cd.Data[1:])
		if err != nil {
			return err
		}
		received = xld.WALStart + pglogrepl.LSN(len(xld.WALData))
		m, err := pglogrepl.Parse(xld.WALData)
		if err != nil {
			return err
		}
		switch m := m.(type) {
		case *pglogrepl.RelationMessage:
			rels[m.RelationID] = m
		case *pglogrepl.UpdateMessage:
			rel := rels[m.RelationID]
			row := make(map[string]string, len(m.NewTuple.Columns))
			for i, c := range m.NewTuple.Columns {
				row[rel.Columns[i].Name] = string(c.Data)
			}
			n.Add(1)
		}
	}
	return nil
}

// BenchmarkPostgresCDCSnapshot: the 1M-row orders table read whole:
// postgres_cdc's initial snapshot (Debezium's envelope) → drop against a bare
// pgx loop reading the same SELECT's text values into a map per row.
func BenchmarkPostgresCDCSnapshot(b *testing.B) {
	sqlSetup(b)
	bare := func(seq int64) window {
		return observeLoop(b, bareSnapshot)
	}
	pipe := func(seq int64) window {
		// initial, not initial_only: a pipeline that ended could not be
		// asked for its last count.
		p, w, err := meteredPipeline(b, func(addr string) string {
			return fmt.Sprintf(`
input:
  postgres_cdc: { dsn: %q, tables: [orders], slot: bench_snap_%d, publication: bench_snap_%d }
output: {drop: {}}
http: {address: %q}
`, sqlDSN, seq, seq, addr)
		})
		p.stop(b)
		sqlSrv.Exec(b, sqlDB, fmt.Sprintf("SELECT pg_drop_replication_slot('bench_snap_%d')", seq))
		if err != nil {
			b.Fatal(err)
		}
		return w
	}
	for i := 0; i < b.N; i++ {
		roundsOf(b, 3, "PostgreSQL 1M-row snapshot → postgres_cdc → drop", "pipeline", "bare pgx SELECT", bare, pipe, reportRows)
	}
}

func bareSnapshot(n *atomic.Int64) error {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, sqlDSN)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	rr := conn.PgConn().ExecParams(ctx, "SELECT * FROM orders", nil, nil, nil, nil)
	fields := rr.FieldDescriptions()
	for rr.NextRow() {
		row := make(map[string]string, len(fields))
		for i, v := range rr.Values() {
			row[fields[i].Name] = string(v)
		}
		n.Add(1)
	}
	_, err = rr.Close()
	return err
}
