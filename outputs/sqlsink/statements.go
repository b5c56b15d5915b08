package sqlsink

import (
	"strings"

	"github.com/pipelinehq/pipeline/internal/sqldb"
)

// maxParams bounds the parameters of one statement: both servers take at
// most 65535.
const maxParams = 65000

// statements builds a table's SQL.
type statements struct {
	driver  sqldb.Driver
	table   string   // quoted
	columns []string // written, in order
	keys    []string // key columns: the conflict target, the WHERE of a delete
}

func (s statements) quotedList(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = s.driver.Quote(c)
	}
	return strings.Join(q, ", ")
}

// tuples is n rows of width placeholders: ($1, $2), ($3, $4) or (?, ?), (?, ?).
func (s statements) tuples(n, width int) string {
	var b strings.Builder
	p := 0
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j := range width {
			if j > 0 {
				b.WriteString(", ")
			}
			p++
			b.WriteString(s.driver.Placeholder(p))
		}
		b.WriteByte(')')
	}
	return b.String()
}

// insert writes n rows.
func (s statements) insert(n int) string {
	return "INSERT INTO " + s.table + " (" + s.quotedList(s.columns) + ") VALUES " + s.tuples(n, len(s.columns))
}

// upsert writes n rows, each replacing the row of its key if there is one.
func (s statements) upsert(n int) string {
	sql := s.insert(n)
	var rest []string
	for _, c := range s.columns {
		if !contains(s.keys, c) {
			rest = append(rest, c)
		}
	}
	if s.driver == sqldb.MySQL {
		if len(rest) == 0 {
			rest = s.keys[:1] // a no-op update: the row is there already
		}
		set := make([]string, len(rest))
		for i, c := range rest {
			set[i] = s.driver.Quote(c) + " = VALUES(" + s.driver.Quote(c) + ")"
		}
		return sql + " ON DUPLICATE KEY UPDATE " + strings.Join(set, ", ")
	}
	if len(rest) == 0 {
		return sql + " ON CONFLICT (" + s.quotedList(s.keys) + ") DO NOTHING"
	}
	set := make([]string, len(rest))
	for i, c := range rest {
		set[i] = s.driver.Quote(c) + " = EXCLUDED." + s.driver.Quote(c)
	}
	return sql + " ON CONFLICT (" + s.quotedList(s.keys) + ") DO UPDATE SET " + strings.Join(set, ", ")
}

// delete deletes the rows of n keys.
func (s statements) delete(n int) string {
	if len(s.keys) == 1 {
		var b strings.Builder
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(s.driver.Placeholder(i + 1))
		}
		return "DELETE FROM " + s.table + " WHERE " + s.driver.Quote(s.keys[0]) + " IN (" + b.String() + ")"
	}
	return "DELETE FROM " + s.table + " WHERE (" + s.quotedList(s.keys) + ") IN (" + s.tuples(n, len(s.keys)) + ")"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
