package sqldb

import (
	"fmt"
	"strconv"
	"strings"
)

// Driver names a database product family, as configs spell it.
type Driver string

const (
	Postgres Driver = "postgres"
	MySQL    Driver = "mysql" // MySQL and MariaDB
)

// Drivers are the accepted driver names, for specs.
var Drivers = []string{string(Postgres), string(MySQL)}

// Quote quotes an identifier: "name" in PostgreSQL, `name` in MySQL, with
// the quote character doubled inside.
func (d Driver) Quote(ident string) string {
	q := `"`
	if d == MySQL {
		q = "`"
	}
	return q + strings.ReplaceAll(ident, q, q+q) + q
}

// QuoteTable quotes a table name that may be qualified (schema.table, or
// db.table in MySQL): each dotted part on its own.
func (d Driver) QuoteTable(name string) string {
	parts := strings.Split(name, ".")
	for i, p := range parts {
		parts[i] = d.Quote(p)
	}
	return strings.Join(parts, ".")
}

// Placeholder is the n-th (1-based) bound parameter: $n or ?.
func (d Driver) Placeholder(n int) string {
	if d == MySQL {
		return "?"
	}
	return "$" + strconv.Itoa(n)
}

// NowQuery asks the database for its clock, at microsecond precision.
func (d Driver) NowQuery() string {
	if d == MySQL {
		return "SELECT CURRENT_TIMESTAMP(6)"
	}
	return "SELECT CURRENT_TIMESTAMP"
}

// IntParam is a placeholder for an integer compared with an integer
// column: PostgreSQL infers a parameter's type from the column, so an int8
// bound against an int4 column must be cast (int2, int4 and int8 share one
// btree operator family, so the cast keeps the index in use).
func (d Driver) IntParam(n int) string {
	if d == Postgres {
		return d.Placeholder(n) + "::int8"
	}
	return d.Placeholder(n)
}

// SplitTable splits a possibly qualified table name into its schema (empty
// when not given) and table.
func SplitTable(name string) (schema, table string, err error) {
	parts := strings.Split(name, ".")
	for _, p := range parts {
		if p == "" {
			return "", "", fmt.Errorf("table name %q has an empty part", name)
		}
	}
	switch len(parts) {
	case 1:
		return "", parts[0], nil
	case 2:
		return parts[0], parts[1], nil
	}
	return "", "", fmt.Errorf("table name %q: want table or schema.table", name)
}
