package tablejoin

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/processors/internal/joinside"
	"github.com/pipelinehq/pipeline/statestore"
)

// Kinds of join.
const (
	streamTable = "stream_table"
	tableTable  = "table_table"
)

// Join types.
const (
	inner = joinside.Inner
	left  = joinside.LeftJoin
	outer = joinside.OuterJoin
)

// Plugin is the table_join processor.
func Plugin() engine.ProcessorPlugin {
	return engine.ProcessorPlugin{
		Spec: config.Spec{
			Name:    "table_join",
			Summary: "Joins a stream with a table, or two tables, by key (Kafka Streams' KStream–KTable and KTable–KTable joins).",
			Description: "The right side, and with kind table_table the left side too, is a table: its records are the changes of a table kept in the state directory " +
				"by key, the latest value of each key (a record without a value, a tombstone, deletes the key). " +
				"kind stream_table (KStream#join/leftJoin(KTable)): only a left (stream) record triggers a result, joined with the right table's current row for its key, " +
				"with the stream record's key, timestamp and headers; a table record only updates the table. An inner join drops a stream record the table has no row for, " +
				"a left join emits it with right nil (and emits a stream record without a key that way too). A stream record without a value is dropped. " +
				"kind table_table (KTable#join/leftJoin/outerJoin(KTable)): every change of either table updates it and emits the change of the joined table, " +
				"at the later of the two rows' timestamps: the joined row, or a tombstone where the join no longer has one, exactly as Kafka Streams emits them " +
				"(inner: only while the other side has a row, a tombstone when this side's row is deleted; left: also a left row without a right one; " +
				"outer: also a right row without a left one). A record without a key is dropped in both kinds, counted in pipeline_join_dropped_records_total. " +
				"With kind stream_table and the table given as an input (a kafka input), the table is loaded first: no other input is read until it has read " +
				"every partition it was given up to the end offset the partition had then (at start, and again after a rebalance gives it partitions). " +
				"Then records are joined in the order they arrive; the sides' inputs are co-partitioned: partition N of each is joined with partition N of the other, " +
				"and their topics must have as many partitions (a table every instance reads in full is the join processor). Records of neither side pass through unchanged.",
			Fields: []config.Field{
				joinside.Field("left", "left (the stream, or with kind table_table the left table)"),
				joinside.Field("right", "right (the table)"),
				config.String("kind", "stream_table: the left side is a stream, only its records trigger results; table_table: both sides are tables, every change triggers.").
					Default(streamTable).Enum(streamTable, tableTable),
				config.String("type", "inner: matches only; left: also left records (rows) without a right row; outer (table_table only): also right rows without a left row.").
					Default(inner).Enum(inner, left, outer),
				config.Expr("value", "The result's value: an expression that sees left and right (the two values; nil for a side without a row) and key and timestamp "+
					"(the result's). Defaults to an object {\"left\": …, \"right\": …}. Not evaluated for a tombstone.").
					Example(`{"order": left, "customer": right}`, `left.amount * right.rate`),
			},
			Example: `inputs:
  orders: { kafka: { brokers: ["127.0.0.1:9092"], topics: [orders], codec: json } }
  customers: { kafka: { brokers: ["127.0.0.1:9092"], topics: [customers], codec: json } }
pipeline:
  processors:
    - table_join:
        left: { input: orders }
        right: { input: customers }
        type: left
        value: '{"order": left, "customer": right}'`,
		},
		New: New,
	}
}

// Join is the table_join processor.
type Join struct {
	sides      *joinside.Sides
	tableTable bool
	// outerSide is, by side, whether a row of it is joined when the other
	// side has none (left: the left side; outer: both).
	outerSide [2]bool
	value     *joinside.Value
	store     *engine.KeyValueState

	dropped, results prometheus.Counter

	mu     sync.Mutex
	shards map[string]*statestore.KeyValueShard
}

// New builds a table join from its config.
func New(conf *config.Parsed, res *engine.Resources) (engine.Processor, error) {
	sides, errs := joinside.Parse(conf, res.InputLabels())
	j := &Join{sides: sides, tableTable: conf.String("kind") == tableTable, shards: map[string]*statestore.KeyValueShard{}}
	switch conf.String("type") {
	case left:
		j.outerSide[joinside.Left] = true
	case outer:
		if !j.tableTable {
			errs = append(errs, conf.Errorf("type", "outer needs kind table_table: a stream–table join is inner or left (as in Kafka Streams)"))
		}
		j.outerSide = [2]bool{true, true}
	}
	value, valueErrs := joinside.ParseValue(conf)
	j.value, errs = value, append(errs, valueErrs...)
	if len(errs) > 0 {
		return nil, errs
	}
	sides.CoPartition(res)
	if table := sides.Input(joinside.Right); table != "" && !j.tableTable {
		// The table is loaded before any stream record is joined.
		res.Preload(table)
	}
	var err error
	if j.store, err = res.KeyValue("tables"); err != nil {
		return nil, err
	}
	j.dropped = joinside.DroppedCounter(res)
	j.results = res.Counter("pipeline_join_results_total", "Records a table join emitted, tombstones included.")
	return j, nil
}

// shard is the tables of one partition's shard; one task uses it at a time.
func (j *Join) shard(partition string) *statestore.KeyValueShard {
	j.mu.Lock()
	defer j.mu.Unlock()
	s, ok := j.shards[partition]
	if !ok {
		s = j.store.Shard(partition)
		j.shards[partition] = s
	}
	return s
}

// Process joins the batch's records, in order.
func (j *Join) Process(_ context.Context, b *engine.Batch) error {
	s := j.shard(b.Partition)
	out := make([]*engine.Record, 0, len(b.Records))
	for _, r := range b.Records {
		side, ok, err := j.sides.Of(r)
		switch {
		case err != nil:
			b.Fail(r, err)
			continue
		case !ok:
			out = append(out, r)
			continue
		}
		res, emit, err := j.processRecord(s, side, r)
		switch {
		case err != nil:
			b.Fail(r, err)
		case emit:
			j.results.Inc()
			out = append(out, res)
		}
	}
	b.Records = out
	return nil
}

// makeResult builds a result at ts from left and right, or a tombstone,
// with the parent's key and headers.
func (j *Join) makeResult(parent *engine.Record, ts int64, l, r any, tombstone bool) (*engine.Record, error) {
	if tombstone {
		rec := engine.NewDerived(parent, nil)
		rec.Timestamp = ts
		return rec, nil
	}
	return j.value.Result(parent, parent.Key, ts, l, r)
}
