// Package streamjoin is the stream_join processor: records of two streams
// joined by key within a time window, with Kafka Streams' semantics
// (KStream#join, #leftJoin and #outerJoin with JoinWindows), so that the
// same events give the same results.
//
// # Sides and tasks
//
// Each side is an input (by label) or a condition on the record. Both
// sides of a key must meet in one task: the processor asks the engine to
// co-partition the inputs involved (Resources.CoPartition), so partition
// N of each goes to one task and one state shard, and the engine refuses
// at start topics whose partition counts differ. Records of neither side
// pass through unchanged.
//
// # What is kept
//
// Per shard, in one statestore key-value store (changelogged under
// exactly-once like every store):
//
//   - the window buffer of each side, every record with a key and a value
//     by (side, key, timestamp, sequence), readable while its timestamp is
//     within before + after + grace of the latest timestamp that side
//     stored (Kafka Streams' window store retention), and deleted past it;
//   - for left and outer joins, the records still unmatched (Kafka
//     Streams' outer-join store), by (timestamp, side, key, sequence) in
//     the order Kafka Streams iterates them, emitted once their window
//     closed, never before (the spurious results of KAFKA-10847);
//   - the stream time of both sides, the earliest unmatched timestamp and
//     the sequence counter, under one meta key.
//
// # Imports
//
// It imports config, engine, statestore and processors/internal/joinside,
// nothing of other components.
package streamjoin
