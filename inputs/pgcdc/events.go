package pgcdc

import (
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/pipelinehq/pipeline/engine"
)

// relation is a captured table as the input decodes it: its columns, its
// key, and the Source its records share.
type relation struct {
	table   tableName
	columns []column
	key     []string
	source  *engine.Source
}

func (in *Input) newRelation(t tableName, names []string, oids []uint32, key []string, conv *converters) *relation {
	r := &relation{table: t, key: key}
	for i, n := range names {
		r.columns = append(r.columns, column{name: n, convert: conv.forType(oids[i])})
	}
	// Every table is of the slot's one partition: a transaction spans tables,
	// and its position is one LSN.
	r.source = &engine.Source{Input: in.label, Partition: in.slot, Meta: map[string]any{
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

// keyOf is Debezium's key: a JSON object of the primary key's columns, or
// none for a table without one.
func keyOf(r *relation, row map[string]any) ([]byte, error) {
	if len(r.key) == 0 || row == nil {
		return nil, nil
	}
	k := make(map[string]any, len(r.key))
	for _, n := range r.key {
		k[n] = row[n]
	}
	return engine.EncodeJSON("key", k)
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

// records makes a change's records: its event, and a tombstone after a
// delete; a primary key update is Debezium's delete of the old key (and
// its tombstone) and create of the new one.
func (in *Input) records(ch change, o origin) ([]*engine.Record, error) {
	if ch.op == engine.OpUpdate && ch.before != nil {
		oldKey, err := keyOf(ch.rel, ch.before)
		if err != nil {
			return nil, err
		}
		newKey, err := keyOf(ch.rel, ch.after)
		if err != nil {
			return nil, err
		}
		if string(oldKey) != string(newKey) {
			del, err := in.records(change{rel: ch.rel, op: engine.OpDelete, before: ch.before, lsn: ch.lsn}, o)
			if err != nil {
				return nil, err
			}
			del[0].Headers = append(del[0].Headers, engine.Header{Key: "__debezium.newkey", Value: newKey})
			create, err := in.records(change{rel: ch.rel, op: engine.OpCreate, after: ch.after, lsn: ch.lsn}, o)
			if err != nil {
				return nil, err
			}
			create[0].Headers = append(create[0].Headers, engine.Header{Key: "__debezium.oldkey", Value: oldKey})
			return append(del, create...), nil
		}
	}
	keyRow := ch.after
	if ch.op == engine.OpDelete {
		keyRow = ch.before
	}
	key, err := keyOf(ch.rel, keyRow)
	if err != nil {
		return nil, err
	}
	rec := engine.NewRecord(nil, engine.JSON)
	rec.Op = ch.op
	if in.envelope == envelopeDebezium {
		rec.SetValue(in.envelopeOf(ch, o))
	} else {
		rec.SetValue(keyRow)
		rec.Before = ch.before
	}
	in.stamp(rec, ch, o, key)
	recs := []*engine.Record{rec}
	if ch.op == engine.OpDelete && in.tombstones && key != nil {
		tomb := engine.NewRecord(nil, engine.JSON)
		in.stamp(tomb, ch, o, key)
		tomb.Op = engine.OpDelete
		recs = append(recs, tomb)
	}
	return recs, nil
}

func (in *Input) stamp(rec *engine.Record, ch change, o origin, key []byte) {
	if key != nil {
		rec.SetKeyFromInput(key)
	}
	rec.Timestamp = o.commitTime.UnixMilli()
	rec.Source = ch.rel.source
	rec.Offset = int64(ch.lsn)
}

// envelopeOf is Debezium's change event value (JSON converter, no schema).
func (in *Input) envelopeOf(ch change, o origin) map[string]any {
	now := time.Now()
	return map[string]any{
		"before":      nilIfEmpty(ch.before),
		"after":       nilIfEmpty(ch.after),
		"source":      in.sourceBlock(ch.rel.table, ch.lsn, o),
		"op":          ch.op.String(),
		"ts_ms":       now.UnixMilli(),
		"ts_us":       now.UnixMicro(),
		"ts_ns":       now.UnixNano(),
		"transaction": nil,
	}
}

// truncateRecord is Debezium's truncate event: no key, no row.
func (in *Input) truncateRecord(rel *relation, lsn pglogrepl.LSN, o origin) *engine.Record {
	now := time.Now()
	rec := engine.NewRecord(nil, engine.JSON)
	rec.SetValue(map[string]any{
		"before": nil, "after": nil, "source": in.sourceBlock(rel.table, lsn, o), "op": "t",
		"ts_ms": now.UnixMilli(), "ts_us": now.UnixMicro(), "ts_ns": now.UnixNano(), "transaction": nil,
	})
	rec.Timestamp = o.commitTime.UnixMilli()
	rec.Source = rel.source
	rec.Offset = int64(lsn)
	return rec
}

func (in *Input) sourceBlock(t tableName, lsn pglogrepl.LSN, o origin) map[string]any {
	src := map[string]any{
		"connector": "postgresql",
		"name":      in.prefix,
		"ts_ms":     o.commitTime.UnixMilli(),
		"ts_us":     o.commitTime.UnixMicro(),
		"ts_ns":     o.commitTime.UnixNano(),
		"snapshot":  o.snapshot,
		"db":        in.database,
		"sequence":  "[" + lsnText(o.lastCommit) + "," + lsnText(lsn) + "]",
		"schema":    t.schema,
		"table":     t.name,
		"txId":      nil,
		"lsn":       int64(lsn),
		"xmin":      nil,
	}
	if o.xid != 0 {
		src["txId"] = int64(o.xid)
	}
	return src
}

// lsnText is an LSN as Debezium's sequence writes it: a decimal number
// as a JSON string, or null.
func lsnText(lsn pglogrepl.LSN) string {
	if lsn == 0 {
		return "null"
	}
	return `"` + strconv.FormatUint(uint64(lsn), 10) + `"`
}

func nilIfEmpty(row map[string]any) any {
	if row == nil {
		return nil
	}
	return row
}
