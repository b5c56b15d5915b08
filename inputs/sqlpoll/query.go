package sqlpoll

import (
	"fmt"
	"strings"
	"time"

	"github.com/pipelinehq/pipeline/internal/sqldb"
)

// source is what a poll selects from: a table, or a custom query wrapped
// as a subquery (so that the mode's WHERE applies to its result columns,
// and a query with a WHERE of its own still works — Kafka Connect appends
// its WHERE to the query text instead).
type source struct {
	driver sqldb.Driver
	table  string
	query  string
}

func (s source) from() string {
	if s.query != "" {
		return "(" + s.query + ") pipeline_query"
	}
	return s.driver.QuoteTable(s.table)
}

// probe selects no row: its result columns tell the names and types.
func (s source) probe() string { return "SELECT * FROM " + s.from() + " WHERE 1 = 0" }

// pollQuery is one poll's SQL and its bound parameters: Kafka Connect's
// JDBC source's, mode by mode:
//
//	incrementing:            WHERE inc > ? ORDER BY inc ASC
//	timestamp:               WHERE ts > ? AND ts < ? ORDER BY ts ASC
//	timestamp+incrementing:  WHERE ts < ? AND ((ts = ? AND inc > ?) OR ts > ?) ORDER BY ts, inc ASC
//
// where ts is the timestamp column, or COALESCE of several, and the upper
// bound is the database's clock minus the delay. Before any row was read
// (no cursor) the lower bound is left out, so that no row is skipped
// whatever its value (Kafka Connect starts from -1 and the epoch).
type pollQuery struct {
	sql  string
	args []any
}

type pollSpec struct {
	mode         string
	tsColumns    []string
	incColumn    string
	from         cursor    // the cursor to read after
	upper        time.Time // exclusive upper bound of timestamps
	initialSince time.Time // the lower bound of timestamps before any cursor (zero: none)
}

func (s source) poll(p pollSpec) pollQuery {
	d := s.driver
	var q pollQuery
	n := 0
	param := func(v any) string {
		n++
		q.args = append(q.args, v)
		return d.Placeholder(n)
	}
	intParam := func(v int64) string {
		n++
		q.args = append(q.args, v)
		return d.IntParam(n)
	}
	ts := timestampExpr(d, p.tsColumns)
	inc := ""
	if p.incColumn != "" {
		inc = d.Quote(p.incColumn)
	}
	var where, order string
	switch p.mode {
	case modeBulk:
	case modeIncrementing:
		if p.from.set {
			where = inc + " > " + intParam(p.from.inc)
		}
		order = inc + " ASC"
	case modeTimestamp:
		switch {
		case p.from.set:
			where = ts + " > " + param(p.from.ts) + " AND " + ts + " < " + param(p.upper)
		case !p.initialSince.IsZero():
			where = ts + " > " + param(p.initialSince) + " AND " + ts + " < " + param(p.upper)
		default:
			where = ts + " < " + param(p.upper)
		}
		order = ts + " ASC"
	case modeTimestampIncrementing:
		switch {
		case p.from.set:
			where = ts + " < " + param(p.upper) + " AND ((" + ts + " = " + param(p.from.ts) + " AND " + inc + " > " +
				intParam(p.from.inc) + ") OR " + ts + " > " + param(p.from.ts) + ")"
		case !p.initialSince.IsZero():
			where = ts + " < " + param(p.upper) + " AND " + ts + " > " + param(p.initialSince)
		default:
			where = ts + " < " + param(p.upper)
		}
		order = ts + ", " + inc + " ASC"
	}
	var b strings.Builder
	b.WriteString("SELECT * FROM ")
	b.WriteString(s.from())
	if where != "" {
		b.WriteString(" WHERE ")
		b.WriteString(where)
	}
	if order != "" {
		b.WriteString(" ORDER BY ")
		b.WriteString(order)
	}
	q.sql = b.String()
	return q
}

// timestampExpr is the timestamp of a row: the column, or the first
// non-NULL of several (Kafka Connect's COALESCE).
func timestampExpr(d sqldb.Driver, cols []string) string {
	if len(cols) == 0 {
		return ""
	}
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = d.Quote(c)
	}
	if len(quoted) == 1 {
		return quoted[0]
	}
	return "COALESCE(" + strings.Join(quoted, ", ") + ")"
}

// upperBound is the exclusive upper bound of a poll's timestamps: the
// database's clock less the delay, cut to the column's precision. A column
// of whole seconds (MySQL's TIMESTAMP) holds 10:00:00 for a row written
// at 10:00:00.7; bounding a poll at 10:00:00.5 by `< 10:00:00.5` would
// read the second's first rows and, once the cursor stood at 10:00:00,
// skip its later ones. Cut to 10:00:00, the bound reads a second only once
// it is over.
// A DATE column is cut to whole days (dayPrecision).
func upperBound(now time.Time, delay time.Duration, precision int) time.Time {
	t := now.Add(-delay)
	if precision == dayPrecision {
		return t.UTC().Truncate(24 * time.Hour)
	}
	if precision >= 0 && precision < 9 {
		unit := time.Duration(1)
		for range 9 - precision {
			unit *= 10
		}
		t = t.Truncate(unit)
	}
	return t
}

// dayPrecision is the precision of a DATE cursor column.
const dayPrecision = -2

func describeSource(s source) string {
	if s.query != "" {
		return "the query"
	}
	return fmt.Sprintf("table %s", s.table)
}
