package aggregate

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/statestore"
)

// Emit modes.
const (
	emitOnUpdate = "on_update"
	emitOnClose  = "on_close"
	emitAtEnd    = "at_end"
)

// Plugin is the aggregate processor.
func Plugin() engine.ProcessorPlugin {
	return engine.ProcessorPlugin{
		Spec: config.Spec{
			Name:    "aggregate",
			Summary: "Groups records by key and folds them into counts, sums and other operations, as a running table or per event-time window.",
			Description: "State is kept per input partition in the pipeline's state directory and committed together with the input positions, " +
				"so a restarted pipeline neither counts a record twice nor misses one. Stream time is the highest event time seen per input " +
				"partition (never the wall clock). Tumbling and hopping windows are epoch-aligned [start, end); sliding and session windows " +
				"include both ends. Windows close by Kafka Streams' rules: tumbling and hopping when stream time reaches end + grace; a session " +
				"when it reaches end + gap + grace (a record is accepted when the session it makes ends no more than gap + grace behind stream time, " +
				"and under on_update a session merged away is retracted with a tombstone); sliding windows when stream time passes end + grace. " +
				"A record no open window takes is late: counted in pipeline_aggregate_late_records_total and dropped or failed to the dead-letter output. " +
				"Each result is a JSON object: the key under key_field, window_start and window_end for windows, then every operation in order. " +
				"A record without a value (a tombstone) is ignored, as Kafka Streams' grouped aggregations ignore it: counted in pipeline_aggregate_tombstones_total, it neither counts nor moves stream time.",
			Fields: []config.Field{
				config.Expr("key", "The grouping key. Results carry it under key_field.").Required().Example("value.customer", "value"),
				config.String("key_field", "The field of each result that holds the key.").Default("key").Example("word"),
				config.ExprMap("ops", "Named operations, in the order they appear in results: count(), sum(x), min(x), max(x), avg(x), first(x) and last(x) (by event time), collect(x), and reduce(initial, merge) where merge sees the accumulated value as acc.").
					Required().Example(map[string]any{"count": "count()", "revenue": "sum(value.price * value.qty)"}),
				config.Object("window", "Event-time windows. Without it the aggregate is a running table of every key.",
					config.String("type", "The kind of window.").Enum(tumbling, hopping, sliding, session).Example(tumbling),
					config.Duration("size", "Window length (tumbling, hopping, sliding).").Example("10s"),
					config.Duration("advance", "How far consecutive hopping windows start apart.").Example("2s"),
					config.Duration("gap", "Session windows: the inactivity gap that ends a session.").Example("5m"),
					config.Duration("grace", "How long after a window's end records are still accepted (out-of-order tolerance).").Default("0s"),
				),
				config.Expr("timestamp", "The event time of a record, in milliseconds since the epoch (a number, a time, or an RFC 3339 string). Defaults to the record's timestamp.").Example("value.date_time"),
				config.String("emit", "When results are written: on_update for every change (a changelog), on_close once per key and window when it closes, at_end once everything is read (bounded inputs).").
					Default(emitOnUpdate).Enum(emitOnUpdate, emitOnClose, emitAtEnd),
				config.String("late", "What happens to a record that arrives after its window closed: drop it, or fail it to the pipeline's on_error handling (the dead-letter output).").
					Default("drop").Enum("drop", "dead_letter"),
			},
			Example: `pipeline:
  processors:
    - aggregate:
        key: value.auction
        key_field: auction
        ops: { bids: 'count()', top: 'max(value.price)' }
        window: { type: tumbling, size: 10s, grace: 1s }
        timestamp: value.date_time
        emit: on_close`,
		},
		New: New,
	}
}

// Aggregate is the aggregate processor.
type Aggregate struct {
	key          *engine.Expr
	keyField     []byte // the key field name, JSON-encoded
	keyFieldName string
	ops          []*op
	opNames      [][]byte // JSON-encoded
	win          windowing
	eventTime    *engine.Expr
	emit         string
	failLate     bool

	table   *engine.KeyValueState // running table: key → states
	windows *engine.WindowState   // windowed: (key, start, end) → states
	records *engine.KeyValueState // sliding: the records still inside an open window
	clock   *engine.KeyValueState // stream time per partition

	late       prometheus.Counter
	tombstones prometheus.Counter

	cache    stateCache // decoded accumulators of the table and fixed windows
	flushing flushCursor
	// onlyCounts: every operation is count(), which cannot fail, so records
	// fold in place.
	onlyCounts bool
}

// New builds an aggregate from its config.
func New(conf *config.Parsed, res *engine.Resources) (engine.Processor, error) {
	var errs config.Errors
	collect := func(err error) {
		if err != nil {
			errs = append(errs, config.AsErrors(err)...)
		}
	}
	a := &Aggregate{emit: conf.String("emit"), failLate: conf.String("late") == "dead_letter"}
	var err error
	a.key, err = engine.CompileExpr(conf.Expr("key"), engine.AnyResult)
	collect(err)
	a.keyFieldName = conf.String("key_field")
	a.keyField, _ = json.Marshal(a.keyFieldName)
	if conf.Has("timestamp") {
		a.eventTime, err = engine.CompileExpr(conf.Expr("timestamp"), engine.AnyResult)
		collect(err)
	}
	for _, pair := range conf.Map("ops") {
		o, err := parseOp(pair.Key, pair.Expr)
		collect(err)
		if o != nil {
			a.ops = append(a.ops, o)
			name, _ := json.Marshal(pair.Key)
			a.opNames = append(a.opNames, name)
		}
	}
	if conf.Has("ops") && len(conf.Map("ops")) == 0 {
		errs = append(errs, conf.Errorf("ops", "give at least one operation"))
	}
	collect(a.readWindow(conf))
	a.onlyCounts = len(a.ops) > 0
	for _, o := range a.ops {
		a.onlyCounts = a.onlyCounts && o.kind == "count"
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if a.win.kind == unwindowed {
		a.table, err = res.KeyValue("table")
	} else {
		a.windows, err = res.Windows("windows")
		if err == nil && a.win.kind == sliding {
			a.records, err = res.KeyValue("records")
		}
	}
	if err == nil {
		a.clock, err = res.KeyValue("stream_time")
	}
	if err != nil {
		return nil, err
	}
	a.cache.limit = int(max(res.StateCacheBytes()/bytesPerEntry, 10_000))
	a.late = res.Counter("pipeline_aggregate_late_records_total", "Records that arrived after their window closed.")
	a.tombstones = res.Counter("pipeline_aggregate_tombstones_total", "Records without a value (tombstones), which an aggregate ignores.")
	return a, nil
}

func (a *Aggregate) readWindow(conf *config.Parsed) error {
	w := conf.Object("window")
	if !conf.Has("window") {
		if a.emit == emitOnClose {
			return conf.Errorf("emit", "emit: on_close needs a window: a running table never closes")
		}
		return nil
	}
	a.win = windowing{kind: w.String("type"), size: ms(w.Duration("size")), advance: ms(w.Duration("advance")), gap: ms(w.Duration("gap")), grace: ms(w.Duration("grace"))}
	var errs config.Errors
	need := func(field string, ok bool, why string) {
		if !ok {
			errs = append(errs, w.Errorf(field, "%s", why))
		}
	}
	switch a.win.kind {
	case "":
		need("type", false, "give the window type: tumbling, hopping, sliding or session")
	case tumbling, sliding:
		need("size", a.win.size > 0, a.win.kind+" windows need a size of at least 1ms")
		need("advance", !w.Has("advance"), "advance is for hopping windows")
		need("gap", !w.Has("gap"), "gap is for session windows")
	case hopping:
		need("size", a.win.size > 0, "hopping windows need a size of at least 1ms")
		need("advance", a.win.advance > 0 && a.win.advance <= a.win.size, "hopping windows need an advance of at least 1ms and at most the size")
		need("gap", !w.Has("gap"), "gap is for session windows")
	case session:
		need("gap", a.win.gap > 0, "session windows need a gap of at least 1ms")
		need("size", !w.Has("size"), "session windows have no fixed size; give gap")
		need("advance", !w.Has("advance"), "advance is for hopping windows")
	}
	if a.win.kind == session || a.win.kind == sliding {
		for _, o := range a.ops {
			if !o.mergeable() {
				errs = append(errs, conf.Errorf("ops", "%s: reduce() cannot be used with %s windows, whose results are combined from partial ones; use count, sum, min, max, avg, first, last or collect", o.name, a.win.kind))
			}
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// Process folds the batch into state. Results (for emit: on_update, and
// windows the batch's stream time closed) replace the batch's records.
func (a *Aggregate) Process(_ context.Context, b *engine.Batch) error {
	pc := a.cache.part(b.Partition)
	st, err := a.streamTime(pc, b.Partition)
	if err != nil {
		return err
	}
	var out []*engine.Record
	for _, r := range b.Records {
		if r.IsTombstone() {
			// As Kafka Streams' grouped aggregations: a record without a
			// value is ignored, and does not move stream time.
			a.tombstones.Inc()
			continue
		}
		ts, err := a.timestampOf(r)
		if err != nil {
			b.Fail(r, err)
			continue
		}
		before := st
		st = max(st, ts)
		keyVal, err := a.key.Eval(r)
		if err != nil {
			b.Fail(r, fmt.Errorf("key: %w", err))
			continue
		}
		pc.keyBuf, err = appendKey(pc.keyBuf[:0], keyVal)
		if err != nil {
			b.Fail(r, err)
			continue
		}
		key := pc.keyBuf
		var results []*engine.Record
		switch a.win.kind {
		case unwindowed:
			results, err = a.addToTable(pc, b.Partition, r, key, ts)
		case tumbling, hopping:
			results, err = a.addToFixed(pc, b.Partition, r, key, ts, st)
		case session:
			var closed []*engine.Record
			results, closed, err = a.addToSession(b.Partition, r, key, ts, before, st)
			if a.emit != emitOnUpdate {
				out = append(out, closed...)
			}
		case sliding:
			results, err = a.addToSliding(b.Partition, r, key, ts, st)
		}
		if errors.Is(err, errLate) {
			a.late.Inc()
			if a.failLate {
				b.Fail(r, fmt.Errorf("late record: event time %d is behind stream time %d by more than its window allows", ts, st))
			}
			continue
		}
		if err != nil {
			b.Fail(r, err)
			continue
		}
		if a.emit == emitOnUpdate {
			out = append(out, results...)
		}
	}
	a.setStreamTime(pc, b.Partition, st)
	if a.win.kind != unwindowed {
		closed, err := a.closeWindows(b.Partition, st)
		if err != nil {
			return err
		}
		if a.emit != emitOnUpdate {
			out = append(out, closed...)
		}
	}
	b.Records = out
	return nil
}

var errLate = errors.New("late")

// flushChunk is how many results one Flush call releases.
const flushChunk = 1024

// flushCursor is where the end-of-input flush stands between calls.
type flushCursor struct {
	started bool
	parts   []string
	part    int    // index in parts
	nextKey []byte // running table: the key to resume from in parts[part]
	// windows: the last window closed in parts[part], to resume after
	windowPos *statestore.WindowPos
}

// Flush emits, for emit: at_end, everything still held, a chunk per call:
// the running table (which stays), or every open window (which closes).
func (a *Aggregate) Flush(_ context.Context, b *engine.Batch) (more bool, err error) {
	if a.emit != emitAtEnd {
		return false, nil
	}
	c := &a.flushing
	if !c.started {
		if err := a.FlushState(); err != nil {
			return false, err
		}
		if a.win.kind == unwindowed {
			c.parts, err = a.table.Partitions()
		} else {
			c.parts, err = a.windows.Partitions()
		}
		if err != nil {
			return false, err
		}
		c.started = true
	}
	for c.part < len(c.parts) {
		room := flushChunk - len(b.Records)
		if room <= 0 {
			return true, nil
		}
		part := c.parts[c.part]
		if a.win.kind != unwindowed {
			closed, pos, err := a.closeWindowsBefore(part, math.MinInt64, math.MaxInt64, room, c.windowPos)
			if err != nil {
				return false, err
			}
			b.Records = append(b.Records, closed...)
			c.windowPos = pos
			if len(closed) == room {
				return true, nil
			}
			c.part, c.windowPos = c.part+1, nil
			continue
		}
		full, err := a.flushTable(part, room, b)
		if err != nil {
			return false, err
		}
		if full {
			return true, nil
		}
		c.part, c.nextKey = c.part+1, nil
	}
	return false, nil
}

// flushTable emits up to room keys of a partition's running table from the
// cursor on; full says it stopped for lack of room.
func (a *Aggregate) flushTable(part string, room int, b *engine.Batch) (full bool, err error) {
	c := &a.flushing
	var decodeErr error
	err = a.table.Shard(part).Range(c.nextKey, nil, func(key, value []byte) bool {
		if room == 0 {
			c.nextKey, full = append(c.nextKey[:0], key...), true
			return false
		}
		states, err := decodeStates(value)
		if err != nil {
			decodeErr = fmt.Errorf("key %s: %w", key, err)
			return false
		}
		b.Records = append(b.Records, a.result(nil, key, nil, states))
		room--
		return true
	})
	if err == nil {
		err = decodeErr
	}
	return full, err
}

func (a *Aggregate) timestampOf(r *engine.Record) (int64, error) {
	if a.eventTime == nil {
		return r.Timestamp, nil
	}
	v, err := a.eventTime.Eval(r)
	if err != nil {
		return 0, fmt.Errorf("timestamp: %w", err)
	}
	switch x := v.(type) {
	case string:
		t, err := time.Parse(time.RFC3339Nano, x)
		if err != nil {
			return 0, fmt.Errorf("timestamp: %q is not an RFC 3339 time", x)
		}
		return t.UnixMilli(), nil
	case time.Time:
		return x.UnixMilli(), nil
	}
	if f, ok := toFloat(v); ok {
		return int64(f), nil
	}
	return 0, fmt.Errorf("timestamp: want milliseconds, a time or an RFC 3339 string, got %T", v)
}

// streamTime is the partition's stream time, loaded from state the first
// time the partition is seen.
func (a *Aggregate) streamTime(pc *partCache, part string) (int64, error) {
	if pc.clockLoaded {
		return pc.streamTime, nil
	}
	raw, found, err := a.clock.Shard(part).Get(nil)
	if err != nil {
		return 0, err
	}
	pc.streamTime, pc.clockLoaded = math.MinInt64, true
	if found && len(raw) == 8 {
		pc.streamTime = int64(binary.BigEndian.Uint64(raw))
	}
	return pc.streamTime, nil
}

// setStreamTime records a partition's stream time in state when it moved.
func (a *Aggregate) setStreamTime(pc *partCache, part string, st int64) {
	if st == pc.streamTime {
		return
	}
	pc.streamTime = st
	a.clock.Shard(part).Put(nil, binary.BigEndian.AppendUint64(nil, uint64(st)))
}

func (a *Aggregate) fold(states []opState, r *engine.Record, ts int64) ([]opState, error) {
	if states == nil {
		states = make([]opState, len(a.ops))
	}
	for i, o := range a.ops {
		if err := o.add(&states[i], r, ts); err != nil {
			return nil, err
		}
	}
	return states, nil
}

func (a *Aggregate) addToTable(pc *partCache, part string, r *engine.Record, key []byte, ts int64) ([]*engine.Record, error) {
	e, err := a.loadTable(pc, part, key)
	if err != nil {
		return nil, err
	}
	if err := a.foldCached(pc, e, r, ts); err != nil {
		return nil, err
	}
	if a.emit != emitOnUpdate {
		return nil, nil
	}
	return []*engine.Record{a.result(r, key, nil, e.states)}, nil
}

func (a *Aggregate) addToFixed(pc *partCache, part string, r *engine.Record, key []byte, ts, st int64) ([]*engine.Record, error) {
	var results []*engine.Record
	accepted := false
	for _, w := range a.win.assign(ts) {
		if !a.win.open(w, st) {
			continue
		}
		accepted = true
		e, err := a.loadWindow(pc, part, key, w)
		if err != nil {
			return nil, err
		}
		if err := a.foldCached(pc, e, r, ts); err != nil {
			return nil, err
		}
		if a.emit == emitOnUpdate {
			results = append(results, a.result(r, key, &w, e.states))
		}
	}
	if !accepted {
		return nil, errLate
	}
	return results, nil
}

// foldCached folds a record into a cached entry. It works on a scratch copy
// of the states, so a record failing half way leaves the entry as it was.
func (a *Aggregate) foldCached(pc *partCache, e *cachedState, r *engine.Record, ts int64) error {
	if e.states == nil {
		e.states = make([]opState, len(a.ops))
	}
	if a.onlyCounts {
		for i := range e.states {
			e.states[i].N++
		}
		pc.markDirty(e)
		return nil
	}
	pc.scratchStates = append(pc.scratchStates[:0], e.states...)
	for i, o := range a.ops {
		if err := o.add(&pc.scratchStates[i], r, ts); err != nil {
			return err
		}
	}
	copy(e.states, pc.scratchStates)
	pc.markDirty(e)
	return nil
}

// addToSession puts the record in a session of its key: a new one, one it
// extends, or, when it bridges several, their merge (the old ones go, and
// under emit: on_update each is retracted, as Kafka Streams forwards a
// tombstone for a session merged away). The sessions it can reach are the
// open ones at the stream time before it (stPrev: Kafka Streams' session
// store keeps sessions for gap + grace behind the last one written), within
// gap of it; it is late when the session it makes ends gap + grace behind
// stream time st. closed holds the final result of a closed session the
// new one replaces in the store (same key and bounds).
func (a *Aggregate) addToSession(part string, r *engine.Record, key []byte, ts, stPrev, st int64) (results, closed []*engine.Record, err error) {
	shard := a.windows.Shard(part)
	olds, err := a.reachableSessions(shard, key, ts, stPrev)
	if err != nil {
		return nil, nil, err
	}
	merged := window{ts, ts}
	for _, o := range olds {
		merged.start, merged.end = min(merged.start, o.w.start), max(merged.end, o.w.end)
	}
	if a.win.sessionLate(merged.end, st) {
		return nil, nil, errLate
	}
	var states []opState
	for _, o := range olds {
		if states == nil {
			states = slices.Clone(o.states)
			continue
		}
		for i, op := range a.ops {
			if err := op.mergeInto(&states[i], &o.states[i]); err != nil {
				return nil, nil, err
			}
		}
	}
	if states, err = a.fold(states, r, ts); err != nil {
		return nil, nil, err
	}
	if merged != (window{ts, ts}) {
		for _, o := range olds {
			shard.Delete(key, o.w.start, o.w.end)
			if a.emit == emitOnUpdate {
				results = append(results, a.retraction(r, key, o.w, o.states))
			}
		}
	} else if len(olds) == 0 {
		if closed, err = a.replacedClosedSession(shard, key, merged); err != nil {
			return nil, nil, err
		}
	}
	shard.Put(key, merged.start, merged.end, appendStates(nil, states))
	return append(results, a.result(r, key, &merged, states)), closed, nil
}

// storedSession is a session read from the store.
type storedSession struct {
	w      window
	states []opState
}

// reachableSessions are the sessions of key a record at ts can join: open
// at stream time stPrev, ending at ts - gap or later, starting at ts + gap
// or earlier.
func (a *Aggregate) reachableSessions(shard *statestore.WindowShard, key []byte, ts, stPrev int64) ([]storedSession, error) {
	var olds []storedSession
	var decodeErr error
	err := shard.FetchKey(key, math.MinInt64, ts+a.win.gap, func(start, end int64, value []byte) bool {
		if end < ts-a.win.gap || (stPrev != math.MinInt64 && !a.win.open(window{start, end}, stPrev)) {
			return true
		}
		s, err := decodeStates(value)
		if err != nil {
			decodeErr = err
			return false
		}
		olds = append(olds, storedSession{window{start, end}, s})
		return true
	})
	if err == nil {
		err = decodeErr
	}
	return olds, err
}

// replacedClosedSession handles a new single-point session [t, t] whose
// bounds a closed session of the key, not yet removed, already has: that
// one's final result is due now, before the store takes the new one (Kafka
// Streams emits both, the closed one first).
func (a *Aggregate) replacedClosedSession(shard *statestore.WindowShard, key []byte, w window) ([]*engine.Record, error) {
	value, found, err := shard.Get(key, w.start, w.end)
	if err != nil || !found {
		return nil, err
	}
	states, err := decodeStates(value)
	if err != nil {
		return nil, err
	}
	return []*engine.Record{a.result(nil, key, &w, states)}, nil
}

// retraction is the tombstone of a window's result: no value, the result
// it withdraws as the row before (op "d"), with the window's time.
func (a *Aggregate) retraction(parent *engine.Record, key []byte, w window, states []opState) *engine.Record {
	rec := a.result(parent, key, &w, states)
	before, _ := rec.Value()
	rec.SetValue(nil)
	rec.Op, rec.Before = engine.OpDelete, before
	return rec
}

// closeWindows removes the windows stream time has closed and returns their
// final results.
func (a *Aggregate) closeWindows(part string, st int64) ([]*engine.Record, error) {
	if st == math.MinInt64 {
		return nil, nil
	}
	if a.win.kind == sliding {
		a.dropExpiredRecords(part, st)
	}
	// Windows ending before the previous bound were closed then, and no
	// window accepting records can end before it, so the scan starts there;
	// but for a session one before it: a session ending just before the
	// bound is still accepted (and closes at once).
	pc := a.cache.part(part)
	bound, from := a.win.closeBound(st), pc.closedBefore
	if a.win.kind == session && from != math.MinInt64 {
		from--
	}
	closed, _, err := a.closeWindowsBefore(part, from, bound, 0, nil)
	if err == nil {
		pc.closedBefore = max(pc.closedBefore, bound)
	}
	return closed, err
}

// closeWindowsBefore closes (at most limit, 0 for all) windows ending in
// [from, bound), from just after pos on, and returns their final results
// and the place of the last one.
func (a *Aggregate) closeWindowsBefore(part string, from, bound int64, limit int, pos *statestore.WindowPos) ([]*engine.Record, *statestore.WindowPos, error) {
	pc := a.cache.part(part)
	a.writeOut(part, pc)
	shard := a.windows.Shard(part)
	type closed struct {
		key    []byte
		w      window
		states []opState
	}
	var done []closed
	var decodeErr error
	scan := func(fn func(key []byte, start, end int64, value []byte) bool) error {
		if pos != nil || from == math.MinInt64 {
			return shard.EndingBeforeAfter(pos, bound, fn)
		}
		return shard.EndingBetween(from, bound, fn)
	}
	err := scan(func(key []byte, start, end int64, value []byte) bool {
		s, err := decodeStates(value)
		if err != nil {
			decodeErr = err
			return false
		}
		done = append(done, closed{append([]byte(nil), key...), window{start, end}, s})
		return limit == 0 || len(done) < limit
	})
	if err == nil {
		err = decodeErr
	}
	if err != nil {
		return nil, nil, err
	}
	out := make([]*engine.Record, 0, len(done))
	for _, c := range done {
		shard.Delete(c.key, c.w.start, c.w.end)
		pc.forget(c.key, c.w)
		out = append(out, a.result(nil, c.key, &c.w, c.states))
	}
	if len(done) > 0 {
		last := done[len(done)-1]
		pos = &statestore.WindowPos{Key: last.key, Start: last.w.start, End: last.w.end}
	}
	return out, pos, nil
}

// result is one aggregate result: a JSON object with the key, the window and
// every operation in the configured order. The record holds the bytes and
// the value they decode to, so that an expression after the aggregate does
// not decode them again.
func (a *Aggregate) result(parent *engine.Record, key []byte, w *window, states []opState) *engine.Record {
	var buf bytes.Buffer
	value := make(map[string]any, 3+len(a.ops))
	buf.WriteByte('{')
	buf.Write(a.keyField)
	buf.WriteByte(':')
	buf.Write(key)
	value[a.keyFieldName] = decodedKey(key)
	if w != nil {
		buf.WriteString(`,"window_start":`)
		buf.WriteString(strconv.FormatInt(w.start, 10))
		buf.WriteString(`,"window_end":`)
		buf.WriteString(strconv.FormatInt(w.end, 10))
		value["window_start"], value["window_end"] = w.start, w.end
	}
	for i, o := range a.ops {
		buf.WriteByte(',')
		buf.Write(a.opNames[i])
		buf.WriteByte(':')
		result := o.result(&states[i])
		v, err := json.Marshal(result)
		if err != nil {
			v, result = []byte("null"), nil
		}
		buf.Write(v)
		value[o.name] = decodedAs(result, v)
	}
	buf.WriteByte('}')
	if parent == nil {
		parent = &engine.Record{}
	}
	rec := engine.NewDerived(parent, nil)
	rec.SetEncoded(buf.Bytes(), engine.JSON, value)
	rec.Key = keyText(key)
	if w != nil {
		rec.Timestamp = w.end
	}
	return rec
}

// decodedAs is what decoding encoded, the JSON of v, gives: v itself where
// that is sure (an integer, a boolean, null, valid UTF-8 text), else the
// decoded JSON (a float that is integral decodes as an integer, for one).
func decodedAs(v any, encoded []byte) any {
	switch x := v.(type) {
	case nil, int64, bool:
		return v
	case string:
		if utf8.ValidString(x) {
			return v
		}
	}
	return decodedJSON(encoded)
}

// decodedKey is a key's value: most keys are strings with nothing escaped,
// which need no decoder.
func decodedKey(key []byte) any {
	if s, ok := plainJSONString(key); ok {
		return s
	}
	return decodedJSON(key)
}

// plainJSONString is the text of a JSON string literal without escapes,
// which is the bytes between its quotes.
func plainJSONString(b []byte) (string, bool) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return "", false
	}
	inner := b[1 : len(b)-1]
	for _, c := range inner {
		if c == '\\' || c == '"' || c < 0x20 {
			return "", false
		}
	}
	if !utf8.Valid(inner) {
		return "", false
	}
	return string(inner), true
}

// decodedJSON decodes JSON the aggregate wrote itself.
func decodedJSON(b []byte) any {
	v, err := engine.DecodeJSON(b)
	if err != nil {
		return nil
	}
	return v
}

// keyText is the record key of a result: a string key without its quotes.
func keyText(key []byte) []byte {
	if len(key) > 0 && key[0] == '"' {
		if s, ok := plainJSONString(key); ok {
			return []byte(s)
		}
		var s string
		if json.Unmarshal(key, &s) == nil {
			return []byte(s)
		}
	}
	return key
}
