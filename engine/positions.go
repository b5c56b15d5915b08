package engine

import (
	"cmp"
	"slices"
	"sync"
)

// positionTracker follows one input's batches, per partition in read order,
// and knows each partition's resolved position: the position of the last
// batch with nothing unresolved before it. Only resolved positions are ever
// committed: a batch resolves once every output wrote what came of it.
type positionTracker struct {
	mu    sync.Mutex
	parts map[string]*partitionPositions
}

type partitionPositions struct {
	name      string
	queue     []*trackedBatch // unresolved, and resolved ones behind an unresolved one, in read order
	resolved  Position
	committed Position
}

// trackedBatch is one input batch's place in its partition's queue.
type trackedBatch struct {
	tracker  *positionTracker
	part     *partitionPositions
	position Position
	done     bool
}

func newPositionTracker() *positionTracker {
	return &positionTracker{parts: map[string]*partitionPositions{}}
}

// track appends a batch read from partition, which ends at position.
func (t *positionTracker) track(partition string, position Position) *trackedBatch {
	t.mu.Lock()
	defer t.mu.Unlock()
	pp, ok := t.parts[partition]
	if !ok {
		pp = &partitionPositions{name: partition}
		t.parts[partition] = pp
	}
	b := &trackedBatch{tracker: t, part: pp, position: position}
	pp.queue = append(pp.queue, b)
	return b
}

// resolve marks the batch handled; the partition's resolved position moves
// past every handled batch at the head of its queue.
func (b *trackedBatch) resolve() {
	t, pp := b.tracker, b.part
	t.mu.Lock()
	defer t.mu.Unlock()
	b.done = true
	n := 0
	for n < len(pp.queue) && pp.queue[n].done {
		pp.resolved = pp.queue[n].position
		n++
	}
	if n > 0 {
		pp.queue = append(pp.queue[:0], pp.queue[n:]...)
	}
}

// seed sets committed positions from an earlier run: partitions with
// nothing new to read keep them in the next commit.
func (t *positionTracker) seed(points []Checkpoint) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, cp := range points {
		t.parts[cp.Partition] = &partitionPositions{name: cp.Partition, resolved: cp.Position, committed: cp.Position}
	}
}

// uncommitted is every partition whose resolved position moved since it was
// last marked committed, by partition name.
func (t *positionTracker) uncommitted() []Checkpoint {
	return t.collect(func(pp *partitionPositions) bool { return !pp.resolved.Equal(pp.committed) })
}

// resolved is every partition's resolved position, by partition name.
func (t *positionTracker) resolved() []Checkpoint {
	return t.collect(func(*partitionPositions) bool { return true })
}

func (t *positionTracker) collect(want func(*partitionPositions) bool) []Checkpoint {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Checkpoint
	for _, pp := range t.parts {
		if !pp.resolved.IsZero() && want(pp) {
			out = append(out, Checkpoint{Partition: pp.name, Position: pp.resolved})
		}
	}
	slices.SortFunc(out, func(a, b Checkpoint) int { return cmp.Compare(a.Partition, b.Partition) })
	return out
}

// markCommitted records that points were committed.
func (t *positionTracker) markCommitted(points []Checkpoint) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, cp := range points {
		if pp, ok := t.parts[cp.Partition]; ok {
			pp.committed = cp.Position
		}
	}
}
