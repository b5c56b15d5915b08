// Package tablejoin is the table_join processor: a stream joined with a
// table, or two tables joined, by key, with Kafka Streams' semantics
// (KStream#join/leftJoin(KTable) and KTable#join/leftJoin/outerJoin(KTable),
// unversioned tables), so that the same changes in the same order give the
// same results in the same order.
//
// # Sides and tasks
//
// Each side is an input (by label) or a condition on the record
// (joinside). Both sides of a key must meet in one task: the processor asks
// the engine to co-partition the inputs involved, so partition N of each
// goes to one task and one state shard, and the engine refuses at start
// topics whose partition counts differ. Records of neither side pass
// through unchanged. A table that every instance reads in full, looked up
// by an expression, is the join processor instead.
//
// # What is kept
//
// Per shard, in one statestore key-value store (changelogged under
// exactly-once like every store), each table's latest row of each key:
// its timestamp and stored value, under the side's byte and the key. A
// tombstone deletes the row. Nothing else is kept: a result is made from
// the changed record and the other table's row, as Kafka Streams makes it
// from the change and the other side's value getter.
//
// # Order
//
// A stream–table join's table input is preloaded (Resources.Preload): the
// engine reads no other input until it has read every partition it was
// given up to the end offset the partition had then, so no stream record
// is joined with a table still loading. After that, records are joined in
// the order the task receives them. Kafka Streams picks, among a task's
// partitions, the head record of the lowest timestamp; here the batches of
// co-partitioned inputs are taken in the order they were read, so a table
// record and a stream record read at about the same time may be joined in
// the other order than Kafka Streams would (the differential test pipes
// both in one order through both).
//
// # Imports
//
// It imports config, engine, statestore and processors/internal/joinside,
// nothing of other components.
package tablejoin
