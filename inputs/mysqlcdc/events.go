package mysqlcdc

import (
	"cmp"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/inputs/internal/cdcevent"
	"github.com/pipelinehq/pipeline/internal/sqldb"
)

// relation is a captured table as the input decodes it: its columns and
// its cdcevent table (key, Source).
type relation struct {
	table   tableName
	columns []column
	tab     *cdcevent.Table
}

func (in *Input) newRelation(t tableName, cols []column, key []string) *relation {
	// Every table is of the input's one partition: a transaction spans
	// tables, and its position is one binlog offset.
	return &relation{table: t, columns: cols, tab: &cdcevent.Table{Key: key, Source: &engine.Source{
		Input: in.label, Partition: partition, Meta: map[string]any{
			"topic":    in.prefix + "." + t.db + "." + t.name,
			"database": t.db,
			"table":    t.name,
		}}}}
}

// snapshotColumns are the columns of a snapshot's result, mapped by the
// driver's type names as sql_poll maps them.
func snapshotColumns(types []*sql.ColumnType, m sqldb.Mapping) []column {
	cols := make([]column, len(types))
	for i, ct := range types {
		cols[i] = column{name: ct.Name(), convert: m.Converter(ct.DatabaseTypeName())}
	}
	return cols
}

// row decodes one row's values.
func (r *relation) row(vals []any) (map[string]any, error) {
	if vals == nil {
		return nil, nil
	}
	if len(vals) != len(r.columns) {
		return nil, fmt.Errorf("%s: a change has %d columns, the table %d", r.table, len(vals), len(r.columns))
	}
	row := make(map[string]any, len(r.columns))
	for i, c := range r.columns {
		v, err := c.convert(vals[i])
		if err != nil {
			return nil, fmt.Errorf("%s column %s: %w", r.table, c.name, err)
		}
		row[c.name] = v
	}
	return row, nil
}

// origin is where a change sits in the binlog, for the envelope's source
// block.
type origin struct {
	at       time.Time // the event's time (seconds, as the binlog keeps it); the read time in a snapshot
	file     string
	offset   uint32 // the row event's own offset
	row      int    // the row's index in its event
	gtid     string
	serverID uint32 // of the server that wrote the event
	snapshot string // "true", "last" or "false"
}

func (in *Input) records(rel *relation, op engine.Operation, before, after map[string]any, o origin) ([]*engine.Record, error) {
	return in.events.Records(cdcevent.Change{
		Table: rel.tab, Op: op, Before: before, After: after,
		Block: in.sourceBlock(rel.table, o), At: o.at, Offset: int64(o.offset),
	})
}

// sourceBlock is Debezium's source block of the MySQL (or MariaDB)
// connector.
func (in *Input) sourceBlock(t tableName, o origin) map[string]any {
	// Sized for every field and the three times: a map that grows on the
	// last of them cost a sixth of the capture's CPU.
	src := make(map[string]any, 17)
	src["version"] = cdcevent.Version
	src["connector"] = in.server.flavor
	src["name"] = in.prefix
	src["snapshot"] = o.snapshot
	src["db"] = t.db
	src["sequence"] = nil
	src["table"] = t.name
	src["server_id"] = int64(o.serverID)
	src["gtid"] = nil
	src["file"] = o.file
	src["pos"] = int64(o.offset)
	src["row"] = int64(o.row)
	src["thread"] = nil
	src["query"] = nil
	if o.gtid != "" {
		src["gtid"] = o.gtid
	}
	return cdcevent.SourceTimes(src, o.at)
}

func sortedTables(m map[tableName][]string) []tableName {
	ts := make([]tableName, 0, len(m))
	for t := range m {
		ts = append(ts, t)
	}
	slices.SortFunc(ts, func(a, b tableName) int {
		return cmp.Or(cmp.Compare(a.db, b.db), cmp.Compare(a.name, b.name))
	})
	return ts
}
