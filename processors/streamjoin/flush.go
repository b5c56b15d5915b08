package streamjoin

import (
	"context"

	"github.com/pipelinehq/pipeline/engine"
)

// Once every input has ended no record can come to match the unmatched
// records still waiting for their window to close: a left or outer join
// emits them then, shard by shard, in the order they wait in.

// flushChunk is how many records one Flush call emits at most.
const flushChunk = 1000

// flushProgress is how far the end-of-input flush got.
type flushProgress struct {
	started bool
	parts   []string
	part    int
}

// Flush emits the unmatched records left in every shard.
func (j *Join) Flush(_ context.Context, b *engine.Batch) (more bool, err error) {
	if !j.keepUnmatched {
		return false, nil
	}
	f := &j.flushing
	if !f.started {
		if f.parts, err = j.store.Partitions(); err != nil {
			return false, err
		}
		f.started = true
	}
	for ; f.part < len(f.parts); f.part++ {
		s, err := j.shard(f.parts[f.part])
		if err != nil {
			return false, err
		}
		full, err := j.flushShard(s, b)
		if err != nil || full {
			return full, err
		}
	}
	return false, nil
}

// flushShard emits a shard's unmatched records until the batch holds
// flushChunk; true when it is full.
func (j *Join) flushShard(s *shardState, b *engine.Batch) (bool, error) {
	err := j.scanUnmatched(s, func(t int64, side byte, key []byte, rec func() (*engine.Record, error)) (emit, more bool, err error) {
		if len(b.Records) >= flushChunk {
			return false, false, nil
		}
		r, err := rec()
		if err != nil {
			return false, false, err
		}
		res := j.unmatchedResult(r, side, key, t, r)
		if res.err != nil {
			return false, false, res.err
		}
		b.Records = append(b.Records, res.rec)
		return true, true, nil
	})
	s.meta.minTime = maxTime
	s.kv.Put(metaKey, s.meta.encode())
	return len(b.Records) >= flushChunk, err
}
