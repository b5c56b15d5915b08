package sqlsink

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/internal/sqldb"
)

const (
	modeInsert = "insert"
	modeUpsert = "upsert"
)

// Plugin is the sql output.
func Plugin() engine.OutputPlugin {
	return engine.OutputPlugin{
		Spec: config.Spec{
			Name:    "sql",
			Summary: "Writes records as rows of a PostgreSQL or MySQL/MariaDB table: inserted or upserted, deleted on a tombstone.",
			Description: "Each Write is one database transaction: it commits whole, or the engine writes it again. A row the " +
				"database refuses (a constraint, a value its column cannot hold, SQLSTATE classes 22 and 23) is rejected alone, " +
				"with the database's error, to the dead-letter output; the others are written. A number the column would round " +
				"(1.5 into a bigint, 19.999 into DECIMAL(10,2)) is refused the same way rather than changed. A lost connection " +
				"fails the Write, which is retried; nothing is committed upstream before it succeeded. upsert replaces the row " +
				"of the same key_columns (PostgreSQL ON CONFLICT … DO UPDATE, MySQL ON DUPLICATE KEY UPDATE); a tombstone or a " +
				"delete change (op d) deletes the row whose key_columns are the record key's: its text for one column, the " +
				"fields of a JSON object key for several.",
			Fields: []config.Field{
				config.String("driver", "The database: postgres, or mysql (MySQL and MariaDB).").Required().Enum(sqldb.Drivers...),
				config.String("dsn", "The connection, in the driver's form (see the sql_poll input). Give the password as ${ENV}.").
					Required().Secret().Example("${PG_DSN}"),
				config.String("table", "The table to write, optionally schema.table.").Required().Example("customers"),
				config.String("mode", "insert adds every record as a new row; upsert replaces the row of the same key.").
					Default(modeUpsert).Enum(modeInsert, modeUpsert),
				config.StringList("key_columns", "The key: the conflict target of upsert, and which row a delete removes. By "+
					"default the table's primary key.").Example([]any{"id"}),
				config.ExprMap("columns", "Column name to expression. By default every column of the table takes the value's "+
					"field of its name (NULL when missing); a value field that is no column rejects the record.").
					Example(map[string]any{"id": "value.id", "name": "upper(value.name)", "seen_at": "timestamp"}),
				config.Bool("delete", "Delete the key's row on a tombstone or a delete change; false rejects them.").Default(true),
			},
			Example: `output:
  sql:
    driver: postgres
    dsn: ${PG_DSN}
    table: customers
    mode: upsert`,
		},
		New: New,
	}
}

// Output is a running sql output.
type Output struct {
	conf    *config.Parsed
	driver  sqldb.Driver
	dsn     string
	table   string
	mode    string
	keys    []string
	columns []column // configured; nil: the table's, from the value's fields
	deletes bool

	db      *sql.DB
	written []sqldb.Column // the columns written, resolved at Start
	stmts   statements
	closed  bool
}

type column struct {
	name string
	expr *engine.Expr
}

// New builds an sql output from its config. It connects to nothing.
func New(conf *config.Parsed, res *engine.Resources) (engine.Output, error) {
	o := &Output{
		conf:    conf,
		driver:  sqldb.Driver(conf.String("driver")),
		dsn:     conf.Secret("dsn").Reveal(),
		table:   conf.String("table"),
		mode:    conf.String("mode"),
		keys:    conf.StringList("key_columns"),
		deletes: conf.Bool("delete"),
	}
	var errs config.Errors
	if err := sqldb.CheckDSN(o.driver, o.dsn); err != nil {
		errs = append(errs, conf.Errorf("dsn", "%s", config.Redact(err.Error(), o.dsn)))
	}
	if _, _, err := sqldb.SplitTable(o.table); err != nil {
		errs = append(errs, conf.Errorf("table", "%v", err))
	}
	for _, p := range conf.Map("columns") {
		e, err := engine.CompileExpr(p.Expr, engine.AnyResult)
		if err != nil {
			errs = append(errs, config.AsErrors(err)...)
			continue
		}
		o.columns = append(o.columns, column{name: p.Key, expr: e})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return o, nil
}

// Check connects, checks the table and its columns, and lets go.
func (o *Output) Check(ctx context.Context) error {
	db, err := o.connect(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	_, _, err = o.resolve(ctx, db)
	return err
}

// Start connects and resolves the columns against the table.
func (o *Output) Start(ctx context.Context) error {
	db, err := o.connect(ctx)
	if err != nil {
		return err
	}
	written, keys, err := o.resolve(ctx, db)
	if err != nil {
		db.Close()
		return err
	}
	o.db, o.written, o.keys = db, written, keys
	names := make([]string, len(written))
	for i, c := range written {
		names[i] = c.Name
	}
	o.stmts = statements{driver: o.driver, table: o.driver.QuoteTable(o.table), columns: names, keys: keys}
	return nil
}

func (o *Output) connect(ctx context.Context) (*sql.DB, error) {
	db, err := sqldb.Open(o.driver, o.dsn)
	if err != nil {
		return nil, o.conf.Errorf("dsn", "%s", config.Redact(err.Error(), o.dsn))
	}
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, o.conf.Errorf("dsn", "cannot connect to %s: %s", o.driver, config.Redact(err.Error(), o.dsn))
	}
	return db, nil
}

// resolve reads the table from the catalog: the columns written and the
// key.
func (o *Output) resolve(ctx context.Context, db *sql.DB) ([]sqldb.Column, []string, error) {
	t, err := sqldb.Describe(ctx, db, o.driver, o.table)
	if errors.Is(err, sqldb.ErrNoTable) {
		return nil, nil, o.conf.Errorf("table", "table %s does not exist (or this user may not see it)", o.table)
	} else if err != nil {
		return nil, nil, o.conf.Errorf("table", "reading the catalog of %s: %s", o.table, config.Redact(err.Error(), o.dsn))
	}
	var errs config.Errors
	written := t.Columns
	if o.columns != nil {
		written = nil
		for _, c := range o.columns {
			col, ok := t.Column(c.name)
			if !ok {
				errs = append(errs, o.conf.Errorf("columns", "table %s has no column %q%s", o.table, c.name, config.Suggest(c.name, t.ColumnNames())))
			}
			written = append(written, col)
		}
	}
	keys := o.keys
	if !o.conf.Has("key_columns") {
		keys = t.PrimaryKey
	}
	for i, k := range keys {
		c, ok := t.Column(k)
		if !ok {
			errs = append(errs, o.conf.Errorf("key_columns", "table %s has no column %q%s", o.table, k, config.Suggest(k, t.ColumnNames())))
			continue
		}
		keys[i] = c.Name
		if o.columns != nil && !hasColumn(written, c.Name) && o.mode == modeUpsert {
			errs = append(errs, o.conf.Errorf("columns", "upsert needs the key column %s among the columns", c.Name))
		}
	}
	if len(keys) == 0 && (o.mode == modeUpsert || o.deletes) {
		errs = append(errs, o.conf.Errorf("key_columns", "table %s has no primary key: give key_columns (upsert and delete need a key), "+
			"or use mode: insert with delete: false", o.table))
	}
	if len(errs) > 0 {
		return nil, nil, errs
	}
	return written, keys, nil
}

func hasColumn(cols []sqldb.Column, name string) bool {
	for _, c := range cols {
		if c.Name == name {
			return true
		}
	}
	return false
}

// Close disconnects.
func (o *Output) Close(context.Context) error {
	o.closed = true
	if o.db != nil {
		o.db.Close()
		o.db = nil
	}
	return nil
}

func describeKey(k []byte) string {
	s := string(k)
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return fmt.Sprintf("%q", strings.ToValidUTF8(s, "\uFFFD"))
}
