package sqldb

import (
	"database/sql"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// connectTimeout bounds a connection attempt when the DSN sets none, so
// that an unreachable server is an error, not a hang.
const connectTimeout = 10 * time.Second

// Open makes a connection pool to dsn (the driver's own DSN form: a
// postgres:// URL or key=value list for pgx; user:password@tcp(host:port)/db
// for MySQL). It connects lazily: the first query reports a server that is
// down or refuses the credentials.
//
// Every session runs in UTC, so that the database's clock, TIMESTAMP WITH
// TIME ZONE values and the bounds bound to queries agree, and columns
// without a zone are read and written as UTC. MySQL sessions also get
// STRICT_ALL_TABLES added to their sql_mode: without it MySQL stores a
// value that does not fit a column truncated, with a warning nobody reads.
func Open(driver Driver, dsn string) (*sql.DB, error) {
	switch driver {
	case Postgres:
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			return nil, fmt.Errorf("invalid PostgreSQL DSN: %w", err)
		}
		cfg.RuntimeParams["timezone"] = "UTC"
		if cfg.ConnectTimeout == 0 {
			cfg.ConnectTimeout = connectTimeout
		}
		return stdlib.OpenDB(*cfg), nil
	case MySQL:
		cfg, err := MySQLConfig(dsn)
		if err != nil {
			return nil, err
		}
		conn, err := mysql.NewConnector(cfg)
		if err != nil {
			return nil, fmt.Errorf("invalid MySQL DSN: %w", err)
		}
		return sql.OpenDB(conn), nil
	}
	return nil, fmt.Errorf("unknown driver %q", driver)
}

// CheckDSN reports whether dsn is a valid DSN of driver, without
// connecting: for config validation.
func CheckDSN(driver Driver, dsn string) error {
	switch driver {
	case Postgres:
		if _, err := pgx.ParseConfig(dsn); err != nil {
			return fmt.Errorf("invalid PostgreSQL DSN: %w", err)
		}
	case MySQL:
		_, err := MySQLConfig(dsn)
		return err
	}
	return nil
}

// MySQLConfig is the driver's config of a MySQL DSN, as Open connects
// with it: times parsed in UTC, the session in UTC and strict.
func MySQLConfig(dsn string) (*mysql.Config, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("invalid MySQL DSN (want user:password@tcp(host:port)/database): %w", err)
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	if cfg.Timeout == 0 {
		cfg.Timeout = connectTimeout
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	cfg.Params["sql_mode"] = "CONCAT(@@sql_mode, ',STRICT_ALL_TABLES')"
	return cfg, nil
}
