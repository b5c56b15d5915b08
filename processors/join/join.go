package join

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/statestore"
)

// Join types.
const (
	inner = "inner"
	left  = "left"
)

// globalPartition names the one shard of the table's store: the table is
// the same for every input partition.
const globalPartition = "global"

// Plugin is the join processor.
func Plugin() engine.ProcessorPlugin {
	return engine.ProcessorPlugin{
		Spec: config.Spec{
			Name:    "join",
			Summary: "Joins each record with the row of a table read in full by every instance (Kafka Streams' stream–global table join).",
			Description: "The table is any input, read as a table: the kafka input reads every partition of its topics from the start, " +
				"read_committed, outside any consumer group (a compacted topic is the usual source); another input is read to its end. " +
				"A table record upserts the row of its key (the record key, as text) and a tombstone or a delete (a CDC input's) deletes it; a table record without a key is ignored. " +
				"Before the first record is joined the table is loaded in full, up to the end offsets taken at start; then it follows its input in the background. " +
				"It lives in the state directory, and is emptied and loaded again at every start, so a restart keeps no row deleted meanwhile; " +
				"it is no part of the pipeline's positions or transactions. " +
				"Only stream records produce results, keeping their key, headers and timestamp. " +
				"An inner join drops a record whose key finds no row (or whose key is nil), counted in pipeline_join_unmatched_records_total; " +
				"a left join joins it with a nil table. A record without a value (a tombstone) is dropped, as Kafka Streams drops it, " +
				"counted in pipeline_join_tombstones_total. A key or value expression that fails fails the record (to the dead-letter output under on_error: dead_letter).",
			Fields: []config.Field{
				config.Component("table", "input", "The table's source: any input, read whole, on every instance. Give the kafka input codec: json to see rows as objects.").
					Required().Example(map[string]any{"kafka": map[string]any{"brokers": []any{"127.0.0.1:9092"}, "topics": []any{"customers"}, "codec": "json"}}),
				config.Expr("key", "The table key to look up for a stream record: a string or bytes as they are, a number as its decimal text; nil finds no row. "+
					"Defaults to the record's key.").Example("value.customer_id", `"customer-" + string(value.customer)`),
				config.String("type", "inner: a record whose key finds no row is dropped; left: it is joined with a nil table.").Default(inner).Enum(inner, left),
				config.Expr("value", "The result's value: an expression that sees the record as usual and the table row as table (nil when a left join finds none). "+
					"Without it the result is the record's value, a JSON object, with the row added under table_field.").
					Example(`{"order": value, "customer": table}`, `value.amount * table.rate`),
				config.String("table_field", "Without value: the field of the record's value that receives the table row (null when a left join finds none).").
					Default("table").Example("customer"),
			},
			Example: `pipeline:
  processors:
    - join:
        table:
          kafka: { brokers: ["127.0.0.1:9092"], topics: [customers], codec: json }
        key: value.customer_id
        type: left
        table_field: customer`,
		},
		New: New,
	}
}

// Join is the join processor.
type Join struct {
	table   engine.Input
	asTable engine.TableInput // nil: the input is read to its end
	key     *engine.Expr      // nil: the record's key
	left    bool
	value   *engine.Expr // nil: the record's value with the row under field
	field   string
	store   *engine.KeyValueState
	log     *slog.Logger

	unmatched, tombstones, changes prometheus.Counter

	// mu guards the shard (statestore shards take no locks) and
	// everything below.
	mu           sync.Mutex
	shard        *statestore.KeyValueShard
	pending      map[string]change // read by the follower, not yet in the shard
	pendingBytes int
	maxPending   int
	room         chan struct{} // closed by the next fold; nil while nobody waits
	cache        map[string]cachedRow
	cacheLimit   int
	// memory holds the whole table while it fits memoryBudget (bytes,
	// estimated), so that a lookup is a map read; nil once it outgrew it,
	// and lookups read the shard.
	memory       *memTable
	memoryBudget int
	heads        []uint64 // lookupInMemory's, kept between batches
	stored       [][]byte
	followErr    error // why the follower stopped, when it failed

	cancel context.CancelFunc
	done   chan struct{} // closed when the follower has returned; nil: none runs
}

// change is one table change waiting for a fold: a row's encoded value, or
// its delete.
type change struct {
	value []byte
	del   bool
}

// cachedRow is a decoded row, or a key known to have none.
type cachedRow struct {
	row   any
	found bool
}

// New builds a join from its config.
func New(conf *config.Parsed, res *engine.Resources) (engine.Processor, error) {
	var errs config.Errors
	collect := func(err error) {
		if err != nil {
			errs = append(errs, config.AsErrors(err)...)
		}
	}
	j := &Join{left: conf.String("type") == left, field: conf.String("table_field"), log: res.Logger}
	if j.log == nil {
		j.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if conf.Has("key") {
		j.key, err = engine.CompileExpr(conf.Expr("key"), engine.AnyResult)
		collect(err)
	}
	if conf.Has("value") {
		j.value, err = engine.CompileExpr(conf.Expr("value"), engine.AnyResult)
		collect(err)
		if conf.Has("table_field") {
			errs = append(errs, conf.Errorf("table_field", "table_field names where the row goes in the default result; with value given, the row is table in its expression"))
		}
	}
	j.table, err = res.Input(conf, "table")
	if err != nil {
		// Errors of the table's own fields are already reported by the
		// build; the join's own go with them.
		if len(errs) > 0 {
			return nil, errs
		}
		return nil, err
	}
	if t, ok := j.table.(engine.TableInput); ok {
		if err := t.ReadAsTable(); err != nil {
			errs = append(errs, conf.Errorf("table", "%v", err))
		}
		j.asTable = t
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if j.store, err = res.SourcedKeyValue("table"); err != nil {
		return nil, err
	}
	cacheBudget := res.StateCacheBytes()
	j.maxPending = int(max(cacheBudget/4, 1<<20))
	j.cacheLimit = int(min(max(cacheBudget/1024, 1000), 100_000))
	j.memoryBudget = int(cacheBudget / 2)
	j.unmatched = res.Counter("pipeline_join_unmatched_records_total", "Records an inner join dropped: their key found no table row, or was nil.")
	j.tombstones = res.Counter("pipeline_join_tombstones_total", "Records without a value (tombstones), which a join drops.")
	j.changes = res.Counter("pipeline_join_table_changes_total", "Table records read (upserts and deletes), while loading and after.")
	return j, nil
}

// Check asks the table's input whether it will be able to start.
func (j *Join) Check(ctx context.Context) error {
	if c, ok := j.table.(engine.Checker); ok {
		if err := c.Check(ctx); err != nil {
			return fmt.Errorf("table: %w", err)
		}
	}
	return nil
}

// progressEvery is how often loading the table logs how far it got.
const progressEvery = 5 * time.Second

// Start starts the table's input and loads the table in full, then starts
// the follower, which applies the table's later changes.
func (j *Join) Start(ctx context.Context) error {
	if st, ok := j.table.(engine.Starter); ok {
		if err := st.Start(ctx); err != nil {
			_ = j.table.Close(ctx)
			return fmt.Errorf("table: %w", err)
		}
	}
	began, progress := time.Now(), time.Now()
	var records int64
	j.memory = newMemTable()
	ended := false
	err := j.store.Reload(globalPartition, func(put func(key, value []byte) error) error {
		for j.asTable == nil || !j.asTable.CaughtUp() {
			b, err := j.table.Read(ctx)
			if errors.Is(err, io.EOF) {
				ended = true
				return nil
			}
			if err != nil {
				return err
			}
			for _, r := range b.Records {
				key, c, ok := tableChange(r)
				if !ok {
					continue
				}
				if err := put(key, c.value); err != nil {
					return err
				}
				j.remember(key, c)
				records++
			}
			j.changes.Add(float64(len(b.Records)))
			if time.Since(progress) >= progressEvery {
				progress = time.Now()
				j.log.Info("loading the join's table", "records", records)
			}
		}
		return nil
	})
	if err != nil {
		_ = j.table.Close(ctx)
		return fmt.Errorf("loading the table: %w", err)
	}
	j.log.Info("the join's table is loaded", "records", records, "took", time.Since(began).Round(time.Millisecond),
		"in_memory", j.memory != nil)
	j.shard = j.store.Shard(globalPartition)
	j.pending, j.cache = map[string]change{}, map[string]cachedRow{}
	if ended {
		j.log.Info("the table's input ended: the table stays as loaded")
		return nil
	}
	followCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	j.cancel, j.done = cancel, make(chan struct{})
	go j.follow(followCtx)
	return nil
}

// Close stops the follower and closes the table's input.
func (j *Join) Close(ctx context.Context) error {
	if j.cancel != nil {
		j.cancel()
		<-j.done
		j.cancel = nil
	}
	return j.table.Close(ctx)
}

// tableChange is what a table record does: key → its encoded row, or a
// delete for a tombstone or a delete (a CDC input's, whose value is the
// row before it). A record without a key changes nothing.
func tableChange(r *engine.Record) (key []byte, c change, ok bool) {
	if r.Key == nil {
		return nil, change{}, false
	}
	if r.IsTombstone() || r.Op == engine.OpDelete {
		return r.Key, change{del: true}, true
	}
	return r.Key, change{value: engine.StoredValue(r)}, true
}

// follow applies the table's changes until the join closes, the input
// ends, or it fails (then the next batch's Process returns the error).
func (j *Join) follow(ctx context.Context) {
	defer close(j.done)
	for {
		b, err := j.table.Read(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, io.EOF):
			j.log.Info("the table's input ended: the table stays as it is")
			return
		case err != nil:
			err = fmt.Errorf("table: reading: %w", err)
			j.log.Error("the join's table cannot follow its input", "error", err)
			j.mu.Lock()
			j.followErr = err
			j.mu.Unlock()
			return
		}
		if !j.stage(ctx, b.Records) {
			return
		}
	}
}

// stage puts a batch of table changes into the pending map, once there is
// room; false when the join closed meanwhile.
func (j *Join) stage(ctx context.Context, recs []*engine.Record) bool {
	j.mu.Lock()
	for j.pendingBytes >= j.maxPending {
		if j.room == nil {
			j.room = make(chan struct{})
		}
		room := j.room
		j.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return false
		}
		j.mu.Lock()
	}
	defer j.mu.Unlock()
	for _, r := range recs {
		key, c, ok := tableChange(r)
		if !ok {
			continue
		}
		if old, had := j.pending[string(key)]; had {
			j.pendingBytes -= len(old.value)
		} else {
			j.pendingBytes += len(key) + pendingOverhead
		}
		j.pending[string(key)] = c
		j.pendingBytes += len(c.value)
	}
	j.changes.Add(float64(len(recs)))
	return true
}

// pendingOverhead approximates the memory of one pending change beyond its
// key and value.
const pendingOverhead = 64

// fold moves the pending changes into the shard. The caller holds mu.
func (j *Join) fold() {
	if len(j.pending) == 0 {
		return
	}
	for k, c := range j.pending {
		if c.del {
			j.shard.Delete([]byte(k))
		} else {
			j.shard.Put([]byte(k), c.value)
		}
		j.remember([]byte(k), c)
		delete(j.cache, k)
	}
	clear(j.pending)
	j.pendingBytes = 0
	if j.room != nil {
		close(j.room)
		j.room = nil
	}
}

// remember applies a change to the table held in memory, and lets go of
// it for good once it outgrows its budget: from then on lookups read the
// shard, which holds every row as well.
func (j *Join) remember(key []byte, c change) {
	if j.memory == nil {
		return
	}
	if c.del {
		j.memory.del(key)
	} else {
		j.memory.set(key, c.value)
	}
	if j.memory.size() > j.memoryBudget {
		j.log.Info("the join's table outgrew half of state.cache_size: lookups read it from the state directory", "cache_size_half", j.memoryBudget)
		j.memory = nil
	}
}

// FlushState moves the table changes read so far into the store; the
// engine calls it just before it commits.
func (j *Join) FlushState() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.shard != nil {
		j.fold()
	}
	return nil
}

// lookupInMemory finds the probes' rows in the table held in memory: first
// every probe's chain head, then every entry, then the rows are decoded.
// Reads of a large table are cache misses; apart, independent ones overlap
// (BenchmarkMemTableLookup: twice as quick as one lookup after the other).
// No cache: decoding a small row costs about what caching it would, and
// keys rarely repeat within a cache's lifetime.
func (j *Join) lookupInMemory(probes []probe) {
	heads := j.heads[:0]
	for i := range probes {
		var head uint64
		if !probes[i].noKey {
			head = j.memory.head(probes[i].key)
		}
		heads = append(heads, head)
	}
	stored := j.stored[:0]
	for i := range probes {
		var row []byte
		if !probes[i].noKey {
			row, probes[i].found = j.memory.find(heads[i], probes[i].key)
		}
		stored = append(stored, row)
	}
	for i := range probes {
		if p := &probes[i]; p.found {
			p.row, p.found, p.err = j.decodeRow(p.key, stored[i], true)
		}
	}
	clear(stored) // the arena's bytes, not to be held past the batch
	j.heads, j.stored = heads, stored
}

// lookup finds the row of key: in the table held in memory, or else in
// the cache or the shard. The caller holds mu.
func (j *Join) lookup(key []byte) (any, bool, error) {
	if j.memory != nil {
		// No cache: decoding a small row costs about what caching it
		// would, and keys rarely repeat within a cache's lifetime.
		stored, found := j.memory.get(key)
		return j.decodeRow(key, stored, found)
	}
	if c, ok := j.cache[string(key)]; ok {
		return c.row, c.found, nil
	}
	stored, found, err := j.shard.Get(key)
	if err != nil {
		return nil, false, err
	}
	row, found, err := j.decodeRow(key, stored, found)
	if err != nil {
		return nil, false, err
	}
	if len(j.cache) >= j.cacheLimit {
		clear(j.cache)
	}
	j.cache[string(key)] = cachedRow{row: row, found: found}
	return row, found, nil
}

// decodeRow decodes a stored row. A row whose value is null is no row, as
// a null value is none for Kafka Streams.
func (j *Join) decodeRow(key, stored []byte, found bool) (any, bool, error) {
	if !found {
		return nil, false, nil
	}
	row, err := engine.LoadStoredValue(stored)
	if err != nil {
		return nil, false, fmt.Errorf("table row %q: %w", key, err)
	}
	return row, row != nil, nil
}

// probe is a record of the batch and what its lookup found.
type probe struct {
	r     *engine.Record
	key   []byte
	noKey bool // the key is nil: no row to find
	row   any
	found bool
	err   error
}

// Process joins every record of the batch with its table row.
func (j *Join) Process(_ context.Context, b *engine.Batch) error {
	probes := make([]probe, 0, len(b.Records))
	for _, r := range b.Records {
		if r.IsTombstone() {
			j.tombstones.Inc()
			continue
		}
		key, err := j.lookupKey(r)
		if err != nil {
			b.Fail(r, fmt.Errorf("key: %w", err))
			continue
		}
		probes = append(probes, probe{r: r, key: key, noKey: key == nil})
	}
	j.mu.Lock()
	if err := j.followErr; err != nil {
		j.mu.Unlock()
		return err
	}
	j.fold()
	if j.memory != nil {
		j.lookupInMemory(probes)
	} else {
		for i := range probes {
			p := &probes[i]
			if !p.noKey {
				p.row, p.found, p.err = j.lookup(p.key)
			}
		}
	}
	j.mu.Unlock()

	out := b.Records[:0]
	for i := range probes {
		p := &probes[i]
		if p.err != nil {
			b.Fail(p.r, p.err)
			continue
		}
		if !p.found && !j.left {
			j.unmatched.Inc()
			continue
		}
		if err := j.result(p.r, p.row); err != nil {
			b.Fail(p.r, err)
			continue
		}
		out = append(out, p.r)
	}
	clear(b.Records[len(out):])
	b.Records = out
	return nil
}

// lookupKey is the table key a record looks up; nil for none.
func (j *Join) lookupKey(r *engine.Record) ([]byte, error) {
	if j.key == nil {
		return r.Key, nil
	}
	v, err := j.key.Eval(r)
	if err != nil {
		return nil, err
	}
	return engine.KeyBytes(v)
}

// result makes the record the join's result for the row (nil: none).
func (j *Join) result(r *engine.Record, row any) error {
	if j.value != nil {
		v, err := j.value.EvalWithTable(r, row)
		if err != nil {
			return fmt.Errorf("value: %w", err)
		}
		r.SetValue(v)
		return nil
	}
	v, err := r.Value()
	if err != nil {
		return err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("the record's value is %s, not an object, so the table row cannot be put under table_field %q; give value to say what to write", engine.DescribeValue(v), j.field)
	}
	// Decoded values may be shared: a copy, never the value itself.
	joined := make(map[string]any, len(obj)+1)
	maps.Copy(joined, obj)
	joined[j.field] = row
	r.SetValue(joined)
	return nil
}
