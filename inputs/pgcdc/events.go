package pgcdc

import (
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/inputs/internal/cdcevent"
)

// relation is a captured table as the input decodes it: its columns, its
// key, and the Source its records share.
type relation struct {
	table   tableName
	columns []column
	tab     *cdcevent.Table
}

func (in *Input) newRelation(t tableName, names []string, oids []uint32, key []string, conv *converters) *relation {
	r := &relation{table: t, tab: &cdcevent.Table{Key: key}}
	for i, n := range names {
		r.columns = append(r.columns, column{name: n, convert: conv.forType(oids[i])})
	}
	// Every table is of the slot's one partition: a transaction spans tables,
	// and its position is one LSN.
	r.tab.Source = &engine.Source{Input: in.label, Partition: in.slot, Meta: map[string]any{
		"topic":  in.prefix + "." + t.schema + "." + t.name,
		"schema": t.schema,
		"table":  t.name,
	}}
	return r
}

// row decodes one tuple of pgoutput's (or of the snapshot's text values,
// as a tuple). A column left out because it is unchanged TOAST gets the
// placeholder, never NULL.
func (in *Input) row(r *relation, tuple *pglogrepl.TupleData) (map[string]any, error) {
	if tuple == nil {
		return nil, nil
	}
	if len(tuple.Columns) != len(r.columns) {
		return nil, fmt.Errorf("%s: a change has %d columns, the table %d", r.table, len(tuple.Columns), len(r.columns))
	}
	row := make(map[string]any, len(r.columns))
	for i, c := range tuple.Columns {
		col := r.columns[i]
		switch c.DataType {
		case pglogrepl.TupleDataTypeNull:
			row[col.name] = nil
		case pglogrepl.TupleDataTypeToast:
			row[col.name] = in.placeholder
		case pglogrepl.TupleDataTypeText:
			v, err := col.convert(c.Data)
			if err != nil {
				return nil, fmt.Errorf("%s column %s: %w", r.table, col.name, err)
			}
			row[col.name] = v
		default:
			return nil, fmt.Errorf("%s column %s: a value in binary form", r.table, col.name)
		}
	}
	return row, nil
}

// change is one row change, before it becomes records.
type change struct {
	rel           *relation
	op            engine.Operation
	before, after map[string]any
	lsn           pglogrepl.LSN
}

// origin is where a change sits in the server's history, for the
// envelope's source block.
type origin struct {
	commitTime time.Time
	xid        uint32
	lastCommit pglogrepl.LSN // the transaction committed before this one
	snapshot   string        // "true", "last" or "false"
}

// records makes a change's records (see cdcevent.Builder.Records).
func (in *Input) records(ch change, o origin) ([]*engine.Record, error) {
	return in.events.Records(cdcevent.Change{
		Table: ch.rel.tab, Op: ch.op, Before: ch.before, After: ch.after,
		Block: in.sourceBlock(ch.rel.table, ch.lsn, o), At: o.commitTime, Offset: int64(ch.lsn),
	})
}

// truncateRecord is Debezium's truncate event; the row envelope has none.
func (in *Input) truncateRecord(rel *relation, lsn pglogrepl.LSN, o origin) (*engine.Record, bool) {
	return in.events.Truncate(rel.tab, in.sourceBlock(rel.table, lsn, o), o.commitTime, int64(lsn))
}

func (in *Input) sourceBlock(t tableName, lsn pglogrepl.LSN, o origin) map[string]any {
	// Sized for every field and the three times: a map that grows on the
	// last of them cost a sixth of the capture's CPU.
	src := make(map[string]any, 16)
	src["version"] = cdcevent.Version
	src["connector"] = "postgresql"
	src["origin"] = nil
	src["origin_lsn"] = nil
	src["name"] = in.prefix
	src["snapshot"] = o.snapshot
	src["db"] = in.database
	src["sequence"] = "[" + lsnText(o.lastCommit) + "," + lsnText(lsn) + "]"
	src["schema"] = t.schema
	src["table"] = t.name
	src["txId"] = nil
	src["lsn"] = int64(lsn)
	src["xmin"] = nil
	if o.xid != 0 {
		src["txId"] = int64(o.xid)
	}
	return cdcevent.SourceTimes(src, o.commitTime)
}

// lsnText is an LSN as Debezium's sequence writes it: a decimal number
// as a JSON string, or null.
func lsnText(lsn pglogrepl.LSN) string {
	if lsn == 0 {
		return "null"
	}
	return `"` + strconv.FormatUint(uint64(lsn), 10) + `"`
}
