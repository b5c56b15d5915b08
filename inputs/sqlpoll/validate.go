package sqlpoll

import (
	"context"
	"database/sql"
	"strings"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/internal/sqldb"
)

// validate checks the source against the config before the first poll:
// that it exists, that the cursor columns are there with a cursor's type,
// and, for a table, that they cannot be NULL and begin an index. It
// returns the key columns (by default the primary key) and the timestamp
// column's fractional-second precision (-1: unknown).
func (in *Input) validate(ctx context.Context, db *sql.DB) (key []string, precision int, err error) {
	types, err := in.probe(ctx, db)
	if err != nil {
		return nil, -1, err
	}
	var errs config.Errors
	for _, c := range in.tsColumns {
		if t, ok := lookup(types, c); !ok {
			errs = append(errs, in.noColumn("timestamp_columns", c, types))
		} else if !sqldb.IsTimestampType(t) && !strings.HasPrefix(strings.ToLower(t), "timestamp") {
			errs = append(errs, in.conf.Errorf("timestamp_columns", "column %s is %s, not a timestamp, datetime or date: it cannot be a timestamp cursor", c, t))
		}
	}
	if in.incColumn != "" {
		if t, ok := lookup(types, in.incColumn); !ok {
			errs = append(errs, in.noColumn("incrementing_column", in.incColumn, types))
		} else if !isIntegerTypeName(t) {
			errs = append(errs, in.conf.Errorf("incrementing_column", "column %s is %s, not an integer: it cannot be an incrementing cursor", in.incColumn, t))
		}
	}
	key = in.keyColumns
	for _, c := range key {
		if _, ok := lookup(types, c); !ok {
			errs = append(errs, in.noColumn("key_columns", c, types))
		}
	}
	precision = -1
	if len(errs) == 0 && in.src.table != "" {
		var pk []string
		pk, precision, errs = in.validateTable(ctx, db)
		if !in.conf.Has("key_columns") {
			key = pk
		}
	}
	if len(errs) > 0 {
		return nil, -1, errs
	}
	return key, precision, nil
}

// probe runs the source's query for no row and returns its columns' types.
func (in *Input) probe(ctx context.Context, db *sql.DB) (map[string]string, error) {
	rows, err := db.QueryContext(ctx, in.src.probe())
	if err != nil {
		msg := config.Redact(err.Error(), in.dsn)
		if in.src.query != "" {
			return nil, in.conf.Errorf("query", "the query fails: %s", msg)
		}
		if sqldb.IsMissingTable(err) {
			return nil, in.conf.Errorf("table", "table %s does not exist (or this user may not see it): %s", in.src.table, msg)
		}
		return nil, in.conf.Errorf("table", "cannot read table %s: %s", in.src.table, msg)
	}
	defer rows.Close()
	cols, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	types := make(map[string]string, len(cols))
	for _, c := range cols {
		types[c.Name()] = c.DatabaseTypeName()
	}
	return types, rows.Err()
}

// validateTable checks the cursor columns in the catalog.
func (in *Input) validateTable(ctx context.Context, db *sql.DB) (pk []string, precision int, errs config.Errors) {
	t, err := sqldb.Describe(ctx, db, in.driver, in.src.table)
	if err != nil {
		return nil, -1, config.Errors{in.conf.Errorf("table", "reading the catalog of %s: %s", in.src.table, config.Redact(err.Error(), in.dsn))}
	}
	precision = -1
	nullable := 0
	for _, name := range in.tsColumns {
		c, _ := t.Column(name)
		if c.Nullable {
			nullable++
		}
		p := c.Precision
		if c.Type == "date" {
			p = dayPrecision
		}
		if precision == -1 || p < precision {
			precision = p
		}
		if !in.unindexed && !t.Indexed[c.Name] && len(in.tsColumns) == 1 {
			errs = append(errs, in.unindexedError("timestamp_columns", c.Name))
		}
	}
	if in.validateNull && len(in.tsColumns) > 0 && nullable == len(in.tsColumns) {
		errs = append(errs, in.conf.Errorf("timestamp_columns", "%s can be NULL in table %s: a row whose cursor is NULL is never "+
			"read (make it NOT NULL, add a column that is not, or set validate_non_null: false)", strings.Join(in.tsColumns, ", "), in.src.table))
	}
	if in.incColumn != "" {
		c, _ := t.Column(in.incColumn)
		if in.validateNull && c.Nullable {
			errs = append(errs, in.conf.Errorf("incrementing_column", "%s can be NULL in table %s: a row whose cursor is NULL is never "+
				"read (make it NOT NULL, or set validate_non_null: false)", c.Name, in.src.table))
		}
		if !in.unindexed && !t.Indexed[c.Name] && in.mode == modeIncrementing {
			errs = append(errs, in.unindexedError("incrementing_column", c.Name))
		}
	}
	return t.PrimaryKey, precision, errs
}

func (in *Input) unindexedError(field, column string) *config.Error {
	return in.conf.Errorf(field, "no index of table %s begins with %s: every poll would scan the whole table "+
		"(CREATE INDEX ON %s (%s), or set allow_unindexed: true)", in.src.table, column, in.src.table, column)
}

func (in *Input) noColumn(field, name string, types map[string]string) *config.Error {
	names := make([]string, 0, len(types))
	for n := range types {
		names = append(names, n)
	}
	hint := config.Suggest(name, names)
	return in.conf.Errorf(field, "%s has no column %q%s", describeSource(in.src), name, hint)
}

func lookup(types map[string]string, name string) (string, bool) {
	if t, ok := types[name]; ok {
		return t, true
	}
	for n, t := range types {
		if strings.EqualFold(n, name) {
			return t, true
		}
	}
	return "", false
}

func isIntegerTypeName(t string) bool {
	switch strings.TrimPrefix(strings.ToUpper(t), "UNSIGNED ") {
	case "INT2", "INT4", "INT8", "SMALLINT", "INTEGER", "INT", "BIGINT", "TINYINT", "MEDIUMINT":
		return true
	}
	return false
}
