package streamjoin

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/processors/internal/joinside"
	"github.com/pipelinehq/pipeline/statestore"
)

// Join types.
const (
	inner = joinside.Inner
	left  = joinside.LeftJoin
	outer = joinside.OuterJoin
)

// Plugin is the stream_join processor.
func Plugin() engine.ProcessorPlugin {
	return engine.ProcessorPlugin{
		Spec: config.Spec{
			Name:    "stream_join",
			Summary: "Joins the records of two streams by key within a time window (Kafka Streams' stream–stream join).",
			Description: "A record of one side joins every record of the other side with the same key whose timestamp is at most window.before " +
				"earlier and at most window.after later (for a right-side record the bounds swap), as Kafka Streams' JoinWindows: a match is emitted " +
				"at once, with the later of the two timestamps and the triggering record's headers. " +
				"A left join also emits each left record that found no match, with right nil, and an outer join each record of either side, " +
				"only once its window has closed (stream time past its timestamp + after (left) or before (right) + grace), never eagerly; " +
				"a record that arrives after its window would have closed and finds no match is emitted unmatched at once, as Kafka Streams does. " +
				"Records are buffered in the state directory while stream time is within before + after + grace of them (later ones are too late to be matched). " +
				"A record without a key or without a value (a tombstone) is dropped, counted in pipeline_join_dropped_records_total; " +
				"in a left or outer join a record of an outer side with a value but no key is emitted unmatched at once. " +
				"The sides' inputs are co-partitioned: partition N of each is joined with partition N of the other, and their topics must have as many partitions. " +
				"Records of neither side pass through unchanged. When every input has ended, the unmatched records still waiting are emitted.",
			Fields: []config.Field{
				joinside.Field("left", "left"),
				joinside.Field("right", "right"),
				config.String("type", "inner: matches only; left: also left records that found no match; outer: also records of either side that found none.").
					Default(inner).Enum(inner, left, outer),
				config.Object("window", "How far apart in time two records may be and still join (Kafka Streams' JoinWindows).",
					config.Duration("within", "Both bounds at once: records at most this far apart join (JoinWindows.ofTimeDifference…).").Example("10s"),
					config.Duration("before", "How much earlier than a left record a right record may be. Defaults to within.").Example("5s"),
					config.Duration("after", "How much later than a left record a right record may be. Defaults to within.").Example("1m"),
					config.Duration("grace", "How long after a window's end records are still accepted, and unmatched results wait.").Default("0s"),
				).Required(),
				config.Expr("value", "The result's value: an expression that sees left and right (the two records' values; nil for the side a left or outer join "+
					"did not find) and key and timestamp (the result's). Defaults to an object {\"left\": …, \"right\": …}.").
					Example(`{"order": left, "payment": right}`, `left.amount - right.amount`),
			},
			Example: `inputs:
  orders: { kafka: { brokers: ["127.0.0.1:9092"], topics: [orders], codec: json } }
  payments: { kafka: { brokers: ["127.0.0.1:9092"], topics: [payments], codec: json } }
pipeline:
  processors:
    - stream_join:
        left: { input: orders }
        right: { input: payments }
        type: left
        window: { within: 10m, grace: 1m }
        value: '{"order": left, "payment": right}'`,
		},
		New: New,
	}
}

// Join is the stream_join processor.
type Join struct {
	sides         *joinside.Sides
	outerSide     [2]bool // by side: its unmatched records are emitted
	keepUnmatched bool    // left or outer: unmatched records wait in the outer store
	before, after int64   // milliseconds, as seen from a left record
	grace         int64
	value         *joinside.Value
	store         *engine.KeyValueState

	dropped, matched, unmatched prometheus.Counter

	mu     sync.Mutex
	shards map[string]*shardState

	flushing flushProgress
}

// New builds a stream join from its config.
func New(conf *config.Parsed, res *engine.Resources) (engine.Processor, error) {
	sides, errs := joinside.Parse(conf, res.InputLabels())
	j := &Join{sides: sides, shards: map[string]*shardState{}}
	switch conf.String("type") {
	case left:
		j.outerSide[leftSide], j.keepUnmatched = true, true
	case outer:
		j.outerSide = [2]bool{true, true}
		j.keepUnmatched = true
	}
	errs = append(errs, j.parseWindow(conf)...)
	value, valueErrs := joinside.ParseValue(conf)
	j.value, errs = value, append(errs, valueErrs...)
	if len(errs) > 0 {
		return nil, errs
	}
	sides.CoPartition(res)
	var err error
	if j.store, err = res.KeyValue("buffers"); err != nil {
		return nil, err
	}
	j.dropped = joinside.DroppedCounter(res)
	j.matched = res.Counter("pipeline_join_matched_results_total", "Results of a stream join that joined two records.")
	j.unmatched = res.Counter("pipeline_join_unmatched_results_total", "Results of a left or outer stream join with one side missing.")
	return j, nil
}

// parseWindow reads window: within, before, after and grace.
func (j *Join) parseWindow(conf *config.Parsed) config.Errors {
	w := conf.Object("window")
	if w == nil {
		return nil
	}
	var errs config.Errors
	ms := func(field string) int64 { return w.Duration(field).Milliseconds() }
	j.before, j.after, j.grace = ms("within"), ms("within"), ms("grace")
	if w.Has("before") {
		j.before = ms("before")
	}
	if w.Has("after") {
		j.after = ms("after")
	}
	if !w.Has("within") && !(w.Has("before") && w.Has("after")) {
		errs = append(errs, conf.Errorf("window", "give within, or both before and after"))
	}
	for field, v := range map[string]time.Duration{"within": w.Duration("within"), "before": w.Duration("before"), "after": w.Duration("after"), "grace": w.Duration("grace")} {
		if v < 0 {
			errs = append(errs, w.Errorf(field, "must not be negative"))
		}
	}
	return errs
}

// retention is how long a buffered record can still be matched, behind
// the latest timestamp its side stored (Kafka Streams: the window store's
// retention, JoinWindows size + grace).
func (j *Join) retention() int64 { return j.before + j.after + j.grace }

// sideOf says which side a record is on.
func (j *Join) sideOf(r *engine.Record) (side byte, ok bool, err error) {
	which, ok, err := j.sides.Of(r)
	if which == joinside.Left {
		return leftSide, ok, err
	}
	return rightSide, ok, err
}

func sideName(s byte) string {
	if s == leftSide {
		return "left"
	}
	return "right"
}

// shard is the state of one partition's shard, loaded on first use.
func (j *Join) shard(partition string) (*shardState, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if s, ok := j.shards[partition]; ok {
		return s, nil
	}
	s := &shardState{kv: j.store.Shard(partition), meta: newShardMeta()}
	stored, found, err := s.kv.Get(metaKey)
	if err != nil {
		return nil, err
	}
	if found {
		if s.meta, err = decodeShardMeta(stored); err != nil {
			return nil, err
		}
	}
	j.shards[partition] = s
	return s, nil
}

// shardState is a shard and its clocks; one task uses it at a time.
type shardState struct {
	kv      *statestore.KeyValueShard
	meta    shardMeta
	changed bool
}

// Process joins the batch's records, in order.
func (j *Join) Process(_ context.Context, b *engine.Batch) error {
	s, err := j.shard(b.Partition)
	if err != nil {
		return err
	}
	out := make([]*engine.Record, 0, len(b.Records))
	for _, r := range b.Records {
		side, ok, err := j.sideOf(r)
		switch {
		case err != nil:
			b.Fail(r, err)
			continue
		case !ok:
			out = append(out, r)
			continue
		}
		results, err := j.processRecord(s, side, r)
		if err != nil {
			return err
		}
		for _, res := range results {
			if res.err != nil {
				b.Fail(r, res.err)
				continue
			}
			out = append(out, res.rec)
		}
	}
	b.Records = out
	if s.changed {
		s.kv.Put(metaKey, s.meta.encode())
		s.changed = false
	}
	return nil
}
