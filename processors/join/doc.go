// Package join is the join processor: each stream record is joined with the
// row of a table that every instance reads in full (Kafka Streams'
// KStream–GlobalKTable join). The table is any input, read as a table
// (engine.TableInput: the kafka input reads every partition of its topics
// from the start, outside any consumer group) or, for an input that is not
// one, read to its end.
//
// # The table's life
//
// Start rebuilds the table from its source, always in full: the store's
// shard (engine.Resources.SourcedKeyValue, one shard named "global") is
// emptied and refilled straight on disk (KeyValueState.Reload) with every
// record up to the end offsets the input took as it started. Clearing
// first is what keeps a restart with a kept state directory right: a row
// deleted from the topic while the pipeline was down, even one whose
// tombstone compaction has since removed, is not kept; nor is anything a
// crash left half loaded. Start returns only then, and the engine starts
// the pipeline's inputs after its processors, so the first stream record
// is joined against the whole table. The table is no part of the
// pipeline's positions or transactions (it has no changelog under
// exactly-once), as Kafka Streams restores a global store from its source
// topic.
//
// # Sharing the store
//
// After Start a goroutine of the join (the follower) goes on reading the
// table's input. A statestore shard is not safe for concurrent use, and the
// engine commits every shard while no batch is in flight but without
// telling processors when, so the follower never touches the shard: it
// puts each change into a pending map (key → the latest row, or a delete)
// under the join's mutex. Everything that touches the shard holds that
// mutex too: Process, which first folds the pending changes into the shard
// and then looks up the batch's keys (several partitions' tasks may call
// it at once), and FlushState, which the engine calls at its commit
// barrier, just before the commit, so that changes read while the stream
// is idle reach the store at every commit. Between FlushState and the
// commit nothing touches the shard: no batch is in flight and the follower
// only writes the pending map. The pending map is bounded (a quarter of
// state.cache_size, at least 1 MiB); when it is full the follower waits
// for the next fold: the next batch, or the next commit (every
// commit_interval at least once; under exactly-once an idle pipeline does
// not commit, so there the follower waits for records to flow).
//
// # Lookups
//
// While the table fits half of state.cache_size (estimated) it is also
// held in memory, as the stored bytes of each row, kept up to date by the
// load and by every fold, and lookups are map reads; once it outgrows that
// it is dropped for good and lookups read the shard. Either way the
// decoded rows of recent keys stay in a small cache, dropped for every key
// a fold changes.
//
// A stream record is thus joined with the table as of the changes read
// before its batch began: the table follows its topic in the background,
// as a global table does, and may lag behind it by what is read but not
// folded yet.
package join
