package cdcevent

import (
	"time"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/internal/sqldb"
)

// The record values an input can make of a change.
const (
	EnvelopeDebezium = "debezium"
	EnvelopeRow      = "row"
)

// Fields are the settings every CDC input has, for its spec.
func Fields() []config.Field {
	return []config.Field{
		config.String("envelope", "The record value: debezium, Debezium's {before, after, source, op, ts_ms}; row, the "+
			"row after the change (before it, for a delete), with op and before beside it.").
			Default(EnvelopeDebezium).Enum(EnvelopeDebezium, EnvelopeRow),
		config.Bool("tombstones_on_delete", "Follow each delete with a tombstone (the key, no value), so that Kafka's "+
			"compaction drops the key (Debezium's tombstones.on.delete).").Default(true),
		config.String("numeric_mapping", "DECIMAL and NUMERIC values: string keeps the digits as a JSON string "+
			"(\"19.90\", Debezium's decimal.handling.mode=string); number writes the same digits as a JSON number.").
			Default(string(sqldb.NumericString)).Enum(string(sqldb.NumericString), string(sqldb.NumericNumber)),
		config.String("timestamp_format", "Timestamp values: rfc3339, a UTC string with the column's fractional "+
			"seconds; epoch_ms, integer milliseconds.").
			Default(string(sqldb.TimeRFC3339)).Enum(string(sqldb.TimeRFC3339), string(sqldb.TimeEpochMillis)),
	}
}

// MappingOf reads the type mapping settings of Fields.
func MappingOf(conf *config.Parsed) sqldb.Mapping {
	return sqldb.Mapping{
		Numeric: sqldb.NumericMapping(conf.String("numeric_mapping")),
		Time:    sqldb.TimeFormat(conf.String("timestamp_format")),
	}
}

// Builder makes records of changes, as the settings of Fields say.
type Builder struct {
	Envelope   string
	Tombstones bool
}

// NewBuilder reads the settings of Fields.
func NewBuilder(conf *config.Parsed) Builder {
	return Builder{Envelope: conf.String("envelope"), Tombstones: conf.Bool("tombstones_on_delete")}
}

// Table is a captured table: the columns of its key (none: records without
// a key) and the Source its records share.
type Table struct {
	Key    []string
	Source *engine.Source
}

// Change is one row change, decoded. Block is the envelope's source block;
// At is when the database committed it, the records' timestamp; Offset is
// the records' offset (an LSN, a binlog position).
type Change struct {
	Table         *Table
	Op            engine.Operation
	Before, After map[string]any
	Block         map[string]any
	At            time.Time
	Offset        int64
}

// Records makes a change's records: its event, and a tombstone after a
// delete; a primary key update is Debezium's delete of the old key (and
// its tombstone) and create of the new one, whose headers
// __debezium.newkey and __debezium.oldkey name the other key.
func (b Builder) Records(ch Change) ([]*engine.Record, error) {
	if ch.Op == engine.OpUpdate && ch.Before != nil {
		oldKey, err := Key(ch.Table, ch.Before)
		if err != nil {
			return nil, err
		}
		newKey, err := Key(ch.Table, ch.After)
		if err != nil {
			return nil, err
		}
		if string(oldKey) != string(newKey) {
			del := ch
			del.Op, del.After = engine.OpDelete, nil
			dels, err := b.Records(del)
			if err != nil {
				return nil, err
			}
			dels[0].Headers = append(dels[0].Headers, engine.Header{Key: "__debezium.newkey", Value: newKey})
			create := ch
			create.Op, create.Before = engine.OpCreate, nil
			creates, err := b.Records(create)
			if err != nil {
				return nil, err
			}
			creates[0].Headers = append(creates[0].Headers, engine.Header{Key: "__debezium.oldkey", Value: oldKey})
			return append(dels, creates...), nil
		}
	}
	keyRow := ch.After
	if ch.Op == engine.OpDelete {
		keyRow = ch.Before
	}
	key, err := Key(ch.Table, keyRow)
	if err != nil {
		return nil, err
	}
	rec := engine.NewRecord(nil, engine.JSON)
	rec.Op = ch.Op
	if b.Envelope == EnvelopeDebezium {
		rec.SetValue(envelope(ch.Before, ch.After, ch.Op.String(), ch.Block))
	} else {
		rec.SetValue(keyRow)
		rec.Before = ch.Before
	}
	stamp(rec, ch, key)
	recs := []*engine.Record{rec}
	if ch.Op == engine.OpDelete && b.Tombstones && key != nil {
		tomb := engine.NewRecord(nil, engine.JSON)
		stamp(tomb, ch, key)
		tomb.Op = engine.OpDelete
		recs = append(recs, tomb)
	}
	return recs, nil
}

// Truncate is Debezium's truncate event: no key, no row. The row envelope
// has no record for it: ok is false.
func (b Builder) Truncate(t *Table, block map[string]any, at time.Time, offset int64) (rec *engine.Record, ok bool) {
	if b.Envelope != EnvelopeDebezium {
		return nil, false
	}
	rec = engine.NewRecord(nil, engine.JSON)
	rec.SetValue(envelope(nil, nil, "t", block))
	stamp(rec, Change{Table: t, At: at, Offset: offset}, nil)
	return rec, true
}

// MarkFirst marks a snapshot's first record as Debezium 3 does: its
// source block's snapshot is "first".
func (b Builder) MarkFirst(rec *engine.Record) { b.mark(rec, "first") }

// MarkLast marks a snapshot's last record as Debezium does: its source
// block's snapshot is "last" (also when it is the first).
func (b Builder) MarkLast(rec *engine.Record) { b.mark(rec, "last") }

func (b Builder) mark(rec *engine.Record, snapshot string) {
	if b.Envelope != EnvelopeDebezium {
		return
	}
	if v, _ := rec.Value(); v != nil {
		if src, ok := v.(map[string]any)["source"].(map[string]any); ok {
			src["snapshot"] = snapshot
		}
	}
}

// Version is the source block's version: Debezium writes its own there.
const Version = "pipeline"

// Key is Debezium's key: a JSON object of the primary key's columns, or
// none for a table without one.
func Key(t *Table, row map[string]any) ([]byte, error) {
	if len(t.Key) == 0 || row == nil {
		return nil, nil
	}
	if len(t.Key) == 1 {
		// The common key, written without a map: what EncodeJSON writes of it.
		b := append(make([]byte, 0, 32), '{')
		b, _ = engine.AppendJSON(b, t.Key[0])
		b = append(b, ':')
		if b, err := engine.AppendJSON(b, row[t.Key[0]]); err == nil {
			return append(b, '}'), nil
		}
	}
	k := make(map[string]any, len(t.Key))
	for _, n := range t.Key {
		k[n] = row[n]
	}
	return engine.EncodeJSON("key", k)
}

func stamp(rec *engine.Record, ch Change, key []byte) {
	if key != nil {
		rec.SetKeyFromInput(key)
	}
	rec.Timestamp = ch.At.UnixMilli()
	rec.Source = ch.Table.Source
	rec.Offset = ch.Offset
}

// envelope is Debezium's change event value (JSON converter, no schema).
func envelope(before, after map[string]any, op string, block map[string]any) map[string]any {
	now := time.Now()
	return map[string]any{
		"before":      nilIfEmpty(before),
		"after":       nilIfEmpty(after),
		"source":      block,
		"op":          op,
		"ts_ms":       now.UnixMilli(),
		"ts_us":       now.UnixMicro(),
		"ts_ns":       now.UnixNano(),
		"transaction": nil,
	}
}

func nilIfEmpty(row map[string]any) any {
	if row == nil {
		return nil
	}
	return row
}

// SourceTimes are the source block's ts_ms, ts_us and ts_ns of a commit.
func SourceTimes(block map[string]any, at time.Time) map[string]any {
	block["ts_ms"], block["ts_us"], block["ts_ns"] = at.UnixMilli(), at.UnixMicro(), at.UnixNano()
	return block
}
