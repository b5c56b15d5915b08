package mysqlcdc

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"
	mysqldriver "github.com/go-sql-driver/mysql"
	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/inputs/internal/capture"
	"github.com/pipelinehq/pipeline/internal/sqldb"
)

// server is what the input learnt of the server at Start.
type server struct {
	flavor  string // "mysql" or "mariadb", go-mysql's names
	version string
	tables  map[tableName][]string // the captured tables and their primary key columns
}

func (in *Input) connect(ctx context.Context) (*sql.DB, error) {
	db, err := sqldb.Open(sqldb.MySQL, in.dsn)
	if err != nil {
		return nil, capture.Fatal(in.conf.Errorf("dsn", "%s", config.Redact(err.Error(), in.dsn)))
	}
	// One connection holds the snapshot's transaction, another reads the catalog.
	db.SetMaxOpenConns(3)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		msg := config.Redact(err.Error(), in.dsn)
		var refused *mysqldriver.MySQLError
		if errors.As(err, &refused) {
			switch refused.Number {
			case 1044, 1045, 1049: // access denied to the database, bad credentials, unknown database
				return nil, capture.Fatal(in.conf.Errorf("dsn", "the server refused the connection: %s", msg))
			}
		}
		return nil, fmt.Errorf("cannot connect to MySQL: %s", msg)
	}
	return db, nil
}

// checkServer learns the flavor and refuses a server whose binlog cannot
// serve change capture, saying what to set.
func (in *Input) checkServer(ctx context.Context, db *sql.DB) (server, error) {
	var s server
	var logBin, format, image string
	if err := db.QueryRowContext(ctx, "SELECT @@version, @@log_bin, @@binlog_format, @@binlog_row_image").
		Scan(&s.version, &logBin, &format, &image); err != nil {
		return s, fmt.Errorf("reading the server's binlog settings: %w", err)
	}
	s.flavor = "mysql"
	if strings.Contains(strings.ToLower(s.version), "mariadb") {
		s.flavor = "mariadb"
	}
	var metadata string
	if err := db.QueryRowContext(ctx, "SELECT @@binlog_row_metadata").Scan(&metadata); err != nil {
		return s, capture.Fatalf("server %s has no binlog_row_metadata (MySQL 8.0.14 or MariaDB 10.5 and later have it), "+
			"which mysql_cdc needs to name the columns of a change: %v", s.version, err)
	}
	want := []struct{ name, got, want, fix string }{
		{"log_bin", logBin, "1", "start the server with --log-bin"},
		{"binlog_format", format, "ROW", "SET GLOBAL binlog_format = 'ROW' (and in the server's config)"},
		{"binlog_row_image", image, "FULL", "SET GLOBAL binlog_row_image = 'FULL' (and in the server's config)"},
		{"binlog_row_metadata", metadata, "FULL", "SET GLOBAL binlog_row_metadata = 'FULL' (and in the server's config)"},
	}
	for _, w := range want {
		if !strings.EqualFold(w.got, w.want) && !(w.name == "log_bin" && strings.EqualFold(w.got, "ON")) {
			return s, capture.Fatalf("server %s has %s = %s; change capture needs %s: %s", s.version, w.name, w.got, w.want, w.fix)
		}
	}
	return s, nil
}

// resolveTables finds the captured tables (every base table of the DSN's
// database when none is named) and their primary keys; a named table that
// does not exist is an error naming the setting.
func (in *Input) resolveTables(ctx context.Context, db *sql.DB) (map[tableName][]string, error) {
	tables := in.tables
	if len(tables) == 0 {
		rows, err := db.QueryContext(ctx, `SELECT table_name FROM information_schema.tables
			WHERE table_schema = ? AND table_type = 'BASE TABLE' ORDER BY table_name`, in.database)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				return nil, err
			}
			tables = append(tables, tableName{in.database, name})
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	out := make(map[tableName][]string, len(tables))
	for _, t := range tables {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.tables
			WHERE table_schema = ? AND table_name = ? AND table_type = 'BASE TABLE'`, t.db, t.name).Scan(&n); err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, capture.Fatal(in.conf.Errorf("tables", "table %s does not exist", t))
		}
		key, err := primaryKey(ctx, db, t)
		if err != nil {
			return nil, err
		}
		out[t] = key
	}
	return out, nil
}

func primaryKey(ctx context.Context, db *sql.DB, t tableName) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT column_name FROM information_schema.key_column_usage
		WHERE table_schema = ? AND table_name = ? AND constraint_name = 'PRIMARY' ORDER BY ordinal_position`, t.db, t.name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var key []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		key = append(key, c)
	}
	return key, rows.Err()
}

// syncerConfig is how the binlog is read: as replica serverID, over TCP,
// with the DSN's credentials and TLS, values left undecoded where go-mysql
// would round them (decimals) or shift them (timestamps).
func (in *Input) syncerConfig() (replication.BinlogSyncerConfig, error) {
	cfg, err := sqldb.MySQLConfig(in.dsn)
	if err != nil {
		return replication.BinlogSyncerConfig{}, err
	}
	if cfg.Net != "tcp" {
		return replication.BinlogSyncerConfig{}, capture.Fatal(in.conf.Errorf("dsn", "mysql_cdc reads the binlog over tcp, not %s", cfg.Net))
	}
	host, portText, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return replication.BinlogSyncerConfig{}, capture.Fatal(in.conf.Errorf("dsn", "address %q: %v", cfg.Addr, err))
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return replication.BinlogSyncerConfig{}, capture.Fatal(in.conf.Errorf("dsn", "port %q: %v", portText, err))
	}
	return replication.BinlogSyncerConfig{
		ServerID:                in.serverID,
		Flavor:                  in.server.flavor,
		Host:                    host,
		Port:                    uint16(port),
		User:                    cfg.User,
		Password:                cfg.Passwd,
		TLSConfig:               cfg.TLS,
		UseDecimal:              true,
		TimestampStringLocation: time.UTC,
		HeartbeatPeriod:         in.heartbeat,
		ReadTimeout:             3*in.heartbeat + 10*time.Second,
		DisableRetrySync:        true, // the capture reconnects itself, from the position it handed on
		Logger:                  in.log,
	}, nil
}
