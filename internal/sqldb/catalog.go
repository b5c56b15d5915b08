package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Column is a table's column as the catalog describes it.
type Column struct {
	Name string
	// Type is the catalog's data type, lower case: "bigint", "numeric",
	// "timestamp with time zone", "datetime", "varchar".
	Type     string
	Nullable bool
	Unsigned bool // MySQL's UNSIGNED integers
	// Precision is the fractional-second digits of a time column (0 for
	// whole seconds); -1 when the column has none or the catalog says not.
	Precision int
	// Scale is the digits after the point of a DECIMAL/NUMERIC column; -1
	// when it has none (or any, as PostgreSQL's bare numeric).
	Scale int
}

// Table is what the catalog says of a table.
type Table struct {
	Name       string // as configured, possibly schema-qualified
	Columns    []Column
	PrimaryKey []string // in key order; empty when the table has none
	// Indexed holds the columns that begin an index (or the primary key):
	// a range condition on them can use it.
	Indexed map[string]bool
}

// Column returns the column name, matched exactly, or case-insensitively
// when no column matches exactly (MySQL's names are not case-sensitive).
func (t *Table) Column(name string) (Column, bool) {
	for _, c := range t.Columns {
		if c.Name == name {
			return c, true
		}
	}
	for _, c := range t.Columns {
		if strings.EqualFold(c.Name, name) {
			return c, true
		}
	}
	return Column{}, false
}

// ColumnNames lists the columns in table order.
func (t *Table) ColumnNames() []string {
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = c.Name
	}
	return names
}

// ErrNoTable is returned by Describe for a table the catalog does not
// know (or the user may not see).
var ErrNoTable = errors.New("no such table")

// Describe reads a table's columns, primary key and indexed columns from
// the catalog. A table name without a schema is looked up in the current
// schema (PostgreSQL) or the current database (MySQL).
func Describe(ctx context.Context, db *sql.DB, driver Driver, name string) (*Table, error) {
	schema, table, err := SplitTable(name)
	if err != nil {
		return nil, err
	}
	t := &Table{Name: name, Indexed: map[string]bool{}}
	if t.Columns, err = describeColumns(ctx, db, driver, schema, table); err != nil {
		return nil, err
	}
	if len(t.Columns) == 0 {
		return nil, fmt.Errorf("%w %q", ErrNoTable, name)
	}
	if t.PrimaryKey, err = queryStrings(ctx, db, catalogSQL(driver, primaryKeySQL), schema, table); err != nil {
		return nil, fmt.Errorf("reading the primary key of %s: %w", name, err)
	}
	leading, err := queryStrings(ctx, db, catalogSQL(driver, indexLeadSQL(driver)), schema, table)
	if err != nil {
		return nil, fmt.Errorf("reading the indexes of %s: %w", name, err)
	}
	for _, c := range leading {
		t.Indexed[c] = true
	}
	return t, nil
}

const columnsSQL = `SELECT column_name, data_type, is_nullable, COALESCE(datetime_precision, -1), COALESCE(numeric_scale, -1), %s
FROM information_schema.columns
WHERE table_schema = %s AND table_name = %s
ORDER BY ordinal_position`

const primaryKeySQL = `SELECT k.column_name
FROM information_schema.table_constraints c
JOIN information_schema.key_column_usage k
  ON k.constraint_name = c.constraint_name AND k.table_schema = c.table_schema AND k.table_name = c.table_name
WHERE c.constraint_type = 'PRIMARY KEY' AND c.table_schema = %s AND c.table_name = %s
ORDER BY k.ordinal_position`

func indexLeadSQL(driver Driver) string {
	if driver == MySQL {
		return `SELECT column_name FROM information_schema.statistics
WHERE table_schema = %s AND table_name = %s AND seq_in_index = 1`
	}
	return `SELECT a.attname::text FROM pg_index i
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0]
WHERE n.nspname = %s AND t.relname = %s`
}

// catalogSQL fills a catalog query's schema and table conditions: the
// schema defaults to the current one when the bound value is empty.
func catalogSQL(driver Driver, format string) string {
	current := "current_schema()"
	if driver == MySQL {
		current = "DATABASE()"
	}
	schema := fmt.Sprintf("COALESCE(NULLIF(%s, ''), %s)", driver.Placeholder(1), current)
	return fmt.Sprintf(format, schema, driver.Placeholder(2))
}

func describeColumns(ctx context.Context, db *sql.DB, driver Driver, schema, table string) ([]Column, error) {
	unsigned := "false"
	if driver == MySQL {
		unsigned = "column_type LIKE '%%unsigned%%'"
	}
	query := catalogSQL(driver, strings.Replace(columnsSQL, "%s", unsigned, 1))
	rows, err := db.QueryContext(ctx, query, schema, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols []Column
	for rows.Next() {
		var c Column
		var nullable string
		if err := rows.Scan(&c.Name, &c.Type, &nullable, &c.Precision, &c.Scale, &c.Unsigned); err != nil {
			return nil, err
		}
		c.Type = strings.ToLower(c.Type)
		c.Nullable = nullable == "YES"
		if !isTimeType(c.Type) {
			c.Precision = -1
		}
		if c.Type != "numeric" && c.Type != "decimal" {
			c.Scale = -1
		}
		cols = append(cols, c)
	}
	return cols, rows.Err()
}

func queryStrings(ctx context.Context, db *sql.DB, query string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// isTimeType reports whether a catalog type is a point in time or a date.
func isTimeType(t string) bool {
	return strings.HasPrefix(t, "timestamp") || t == "datetime" || t == "date"
}

// IsTimestampType reports whether a catalog type can be a timestamp
// cursor: a timestamp, datetime or date.
func IsTimestampType(t string) bool { return isTimeType(strings.ToLower(t)) }

// IsIntegerType reports whether a catalog type is an integer type, which
// an incrementing cursor must be.
func IsIntegerType(t string) bool {
	switch strings.ToLower(t) {
	case "smallint", "integer", "bigint", "int", "tinyint", "mediumint", "int2", "int4", "int8":
		return true
	}
	return false
}
