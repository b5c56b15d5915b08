package pgcdc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/inputs/internal/capture"
)

// connectSQL opens the connection that reads the catalog and the snapshot.
func (in *Input) connectSQL(ctx context.Context) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(in.dsn)
	if err != nil {
		return nil, capture.Fatal(in.conf.Errorf("dsn", "%s", config.Redact(err.Error(), in.dsn)))
	}
	cfg.RuntimeParams["timezone"] = "UTC"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, in.connectError(err)
	}
	return conn, nil
}

// connectReplication opens a logical replication connection. A timed-out
// receive only sets the socket's deadline: the default handler would send
// the walsender a cancel request.
func (in *Input) connectReplication(ctx context.Context) (*pgconn.PgConn, error) {
	cfg, err := pgconn.ParseConfig(in.dsn)
	if err != nil {
		return nil, capture.Fatal(in.conf.Errorf("dsn", "%s", config.Redact(err.Error(), in.dsn)))
	}
	cfg.RuntimeParams["replication"] = "database"
	cfg.RuntimeParams["timezone"] = "UTC"
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()}
	}
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, in.connectError(err)
	}
	return conn, nil
}

// connectError tells a refusal (credentials, a missing database, no
// REPLICATION privilege: fatal) from a server that cannot serve now —
// unreachable, starting up or recovering from a crash (57P03), shutting
// down, out of connections (53300) — which is retried.
func (in *Input) connectError(err error) error {
	msg := config.Redact(err.Error(), in.dsn)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "28", "3D", "42": // invalid authorization, unknown database, insufficient privilege
			return capture.Fatal(in.conf.Errorf("dsn", "PostgreSQL refused the connection: %s", msg))
		}
		return fmt.Errorf("PostgreSQL cannot take the connection now: %s", msg)
	}
	var netErr net.Error
	if errors.As(err, &netErr) || strings.Contains(msg, "connect") {
		return fmt.Errorf("cannot connect to PostgreSQL: %s", msg)
	}
	return capture.Fatal(in.conf.Errorf("dsn", "%s", msg))
}

// checkServer refuses a server that cannot decode logically.
func (in *Input) checkServer(ctx context.Context, conn *pgx.Conn) error {
	var level string
	if err := conn.QueryRow(ctx, "SHOW wal_level").Scan(&level); err != nil {
		return err
	}
	if level != "logical" {
		return capture.Fatalf("the server's wal_level is %s; change data capture needs wal_level = logical in postgresql.conf (then restart the server)", level)
	}
	return nil
}

// resolveTables checks the tables, creates the publication when it is
// missing and allowed to, checks that it publishes every table, and
// returns the captured tables.
func (in *Input) resolveTables(ctx context.Context, conn *pgx.Conn) ([]tableName, error) {
	for _, t := range in.tables {
		ok, err := tableExists(ctx, conn, t)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, capture.Fatal(in.conf.Errorf("tables", "table %s does not exist", t))
		}
	}
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)", in.publication).Scan(&exists); err != nil {
		return nil, err
	}
	if !exists {
		if !in.createPub {
			return nil, capture.Fatal(in.conf.Errorf("publication", "publication %s does not exist, and create_publication is off: create it (CREATE PUBLICATION %s FOR TABLE …)", in.publication, in.publication))
		}
		if err := in.createPublication(ctx, conn); err != nil {
			return nil, err
		}
	}
	published, err := publishedTables(ctx, conn, in.publication)
	if err != nil {
		return nil, err
	}
	if len(in.tables) == 0 {
		if len(published) == 0 {
			return nil, capture.Fatal(in.conf.Errorf("publication", "publication %s has no table: add tables to it, or list them in tables", in.publication))
		}
		return published, nil
	}
	for _, t := range in.tables {
		if !contains(published, t) {
			return nil, capture.Fatal(in.conf.Errorf("tables", "table %s is not in publication %s: ALTER PUBLICATION %s ADD TABLE %s", t, in.publication, in.publication, t.quoted()))
		}
	}
	return in.tables, nil
}

func (in *Input) createPublication(ctx context.Context, conn *pgx.Conn) error {
	what := "ALL TABLES"
	if len(in.tables) > 0 {
		names := make([]string, len(in.tables))
		for i, t := range in.tables {
			names[i] = t.quoted()
		}
		what = "TABLE " + strings.Join(names, ", ")
	}
	if _, err := conn.Exec(ctx, "CREATE PUBLICATION "+pgx.Identifier{in.publication}.Sanitize()+" FOR "+what); err != nil {
		return fmt.Errorf("creating publication %s: %w", in.publication, err)
	}
	in.log.Info("created the publication", "publication", in.publication, "for", what)
	return nil
}

func contains(ts []tableName, t tableName) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

// slotState is a replication slot as the server has it.
type slotState struct {
	exists    bool
	plugin    string
	confirmed pglogrepl.LSN
	active    bool
}

func (in *Input) readSlot(ctx context.Context, conn *pgx.Conn) (slotState, error) {
	var s slotState
	var db, confirmed *string
	err := conn.QueryRow(ctx, `SELECT plugin, database, confirmed_flush_lsn::text, active FROM pg_replication_slots
		WHERE slot_name = $1`, in.slot).Scan(&s.plugin, &db, &confirmed, &s.active)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	s.exists = true
	if s.plugin != "pgoutput" || db == nil || *db != conn.Config().Database {
		where := "no database"
		if db != nil {
			where = "database " + *db
		}
		return s, capture.Fatal(in.conf.Errorf("slot", "replication slot %s is for %s with plugin %s, not for %s with pgoutput: name another slot", in.slot, where, s.plugin, conn.Config().Database))
	}
	if confirmed != nil {
		if s.confirmed, err = pglogrepl.ParseLSN(*confirmed); err != nil {
			return s, err
		}
	}
	return s, nil
}

// createSlot creates the slot; with export, its snapshot stays usable by
// other connections until repl runs another command.
func (in *Input) createSlot(ctx context.Context, repl *pgconn.PgConn, export bool) (pglogrepl.LSN, string, error) {
	return in.createSlotWith(ctx, repl, export, false)
}

// createSlotWith creates the slot, exporting its snapshot or not; a
// temporary slot is dropped by the server when repl closes.
func (in *Input) createSlotWith(ctx context.Context, repl *pgconn.PgConn, export, temporary bool) (pglogrepl.LSN, string, error) {
	action := "NOEXPORT_SNAPSHOT"
	if export {
		action = "EXPORT_SNAPSHOT"
	}
	res, err := pglogrepl.CreateReplicationSlot(ctx, repl, in.slot, "pgoutput",
		pglogrepl.CreateReplicationSlotOptions{SnapshotAction: action, Mode: pglogrepl.LogicalReplication, Temporary: temporary})
	if err != nil {
		return 0, "", fmt.Errorf("creating replication slot %s: %w", in.slot, err)
	}
	lsn, err := pglogrepl.ParseLSN(res.ConsistentPoint)
	if err != nil {
		return 0, "", err
	}
	in.log.Info("created the replication slot", "slot", in.slot, "consistent_point", lsn)
	return lsn, res.SnapshotName, nil
}

func (in *Input) dropSlot(ctx context.Context, conn *pgx.Conn) error {
	if _, err := conn.Exec(ctx, "SELECT pg_drop_replication_slot($1)", in.slot); err != nil {
		return fmt.Errorf("dropping replication slot %s: %w", in.slot, err)
	}
	return nil
}
