package engine

import (
	"context"
)

// The component lifecycle, the same for inputs, processors and outputs:
//
//  1. New (the plugin's constructor) validates the config, compiles
//     expressions and reports every problem. It has no side effects: lint
//     builds a whole graph this way and throws it away.
//  2. Start, when the component implements Starter, opens files and
//     connections. Outputs start before processors, processors before inputs.
//  3. Read / Process / Write move records.
//  4. Close releases everything. Inputs close first, outputs last, so that
//     everything read can still be written.

// Input reads records from a source, one batch at a time.
type Input interface {
	// Read blocks until a batch is ready. Every record of a batch belongs
	// to one partition. A bounded input returns io.EOF once everything was
	// read. Read must return promptly when ctx is cancelled.
	Read(ctx context.Context) (InputBatch, error)
	Close(ctx context.Context) error
}

// InputBatch is what an input read: records of one partition, and the
// position to resume from once all of them are done. A batch without
// records is committed when it has a position: the source moved on past
// nothing of the input's (a CDC input's heartbeat).
type InputBatch struct {
	Records   []*Record
	Partition string
	// Position is where to resume after the last record of this batch (a
	// byte offset, a Kafka offset + 1, an LSN).
	Position Position
}

// Committer is an input that stores its progress at the source, like a Kafka
// consumer group. The engine calls Commit with positions whose records were
// all written or deliberately dropped.
type Committer interface {
	Commit(ctx context.Context, checkpoints []Checkpoint) error
}

// SourceConfirmer is a Committer whose source keeps less than its whole
// position: a replication slot keeps the LSN confirmed to it, not whether
// the snapshot before it finished, nor how far into a transaction the
// input got. The engine keeps its positions too (in state.dir, or in the
// transaction) and resumes it from them; Commit only tells the source what
// it may let go of.
type SourceConfirmer interface {
	Committer
	Resumer
	ConfirmsAtSource()
}

// Resumer is an input that can start from positions the engine committed
// earlier: kept in state.dir, or under exactly-once in the transaction.
// Resume is called before Start with the last committed position of each
// partition; partitions not listed start from the beginning. An input whose
// source keeps its positions (Committer) resumes from the engine's only in
// a stateful pipeline, whose state must match them.
type Resumer interface {
	Resume(checkpoints []Checkpoint) error
}

// TableInput is an input that can be read whole, as a table: a join's
// table (Kafka Streams' global table), which every instance reads in full.
// A processor that reads an input this way (Resources.Input) calls
// ReadAsTable before Start; the input then reads every partition of its
// source from the beginning, outside any consumer group, and keeps no
// position. CaughtUp reports whether Read has returned every record the
// source held when the input started (the end offsets taken in Start);
// once true it stays true. So that a reader waiting on a table learns of
// it, Read may then return a batch without records.
type TableInput interface {
	Input
	ReadAsTable() error
	CaughtUp() bool
}

// PreloadInput is an input a join reads as a table of its partitions (the
// table side of a stream–table join). Preload, called before Start, makes
// it note the end offset of every partition it is given, when it is given
// it; Loaded reports whether Read has returned every record below those
// offsets, for every partition it holds, and turns false again when a
// rebalance gives it more. While a preloaded input is not loaded the
// engine reads no other input, and an input that reads several through
// one session (a Kafka transaction) holds the others back itself, so that
// no stream record is joined with a table still loading.
type PreloadInput interface {
	Input
	Preload()
	Loaded() bool
}

// NumberedPartitions is an input whose partitions are numbered the same
// way across its topics (Kafka's topic/N). PartitionNumber gives the
// number of one of its partitions; an input without it is one partition,
// number 0, for co-partitioning. PartitionCounts, once the input started,
// gives how many partitions each of its topics has: co-partitioned inputs
// must agree.
type NumberedPartitions interface {
	PartitionNumber(partition string) (int32, bool)
	PartitionCounts(ctx context.Context) (map[string]int, error)
}

// Processor transforms a batch in place: it rewrites b.Records, and reports
// records it cannot handle with b.Fail. An error return stops the pipeline.
type Processor interface {
	Process(ctx context.Context, b *Batch) error
}

// Flusher is a processor that holds records back (an aggregation emitting at
// the end of input). Once every input has ended, the engine calls Flush
// until it reports no more: each call appends a batch's worth of what it held
// to b.Records, which the engine runs through the rest of the chain and
// writes before asking for more, so what is held never sits in memory at once.
type Flusher interface {
	Flush(ctx context.Context, b *Batch) (more bool, err error)
}

// StateFlusher is a processor that keeps state changes in memory between
// commits. The engine calls FlushState while no batch is in flight, just
// before it commits the state stores, so that the changes reach them.
type StateFlusher interface {
	FlushState() error
}

// Terminal is a processor that routes every record to an output, so that
// nothing reaches the end of the chain (a branch whose every case routes).
type Terminal interface {
	Terminal() bool
}

// Output writes records to a sink. Write is called from one goroutine at a
// time, in order; an error makes the engine retry the whole slice.
type Output interface {
	Write(ctx context.Context, records []*Record) error
	Close(ctx context.Context) error
}

// AsyncOutput is an output that takes a batch before the earlier ones are
// acknowledged, so that writes overlap (a Kafka producer keeps many
// batches in flight). WriteAsync queues records behind those of earlier
// calls, keeping their order, and calls done once, when every record is
// written or the write failed; it must not block longer than the sink's own
// buffer limits make it. The engine does not retry asynchronous writes: the
// output retries what it can (franz-go retries, idempotently) before it
// reports a failure.
type AsyncOutput interface {
	Output
	WriteAsync(ctx context.Context, records []*Record, done func(error))
}

// Checker is a component that can tell, before it starts, whether it will
// be able to: that its brokers answer and accept its credentials, say. Check
// connects and lets go again, changing nothing. A hot reload checks the new
// pipeline before it stops the running one.
type Checker interface {
	Check(ctx context.Context) error
}

// Starter is a component that opens files or connections before records flow.
type Starter interface {
	Start(ctx context.Context) error
}

// Closer is a processor that holds resources.
type Closer interface {
	Close(ctx context.Context) error
}

// ReadinessReporter is a component that can be running and still unable
// to make progress: a Kafka input its group has not assigned partitions
// yet, or whose fetches keep failing. Ready returns nil when it can go on,
// else why not, in words for an operator; /ready answers 503 with it.
type ReadinessReporter interface {
	Ready() error
}
