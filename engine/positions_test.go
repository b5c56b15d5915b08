package engine

import (
	"strings"
	"testing"
)

func checkpointsString(cps []Checkpoint) string {
	var parts []string
	for _, cp := range cps {
		parts = append(parts, cp.Partition+"@"+cp.Position.String())
	}
	return strings.Join(parts, " ")
}

func at(n int64) Position { return IntPosition("n", n) }

// TestTrackerResolvesInReadOrder: a partition's resolved position moves only
// past batches with nothing unresolved before them, whatever order they
// resolve in; partitions are independent.
func TestTrackerResolvesInReadOrder(t *testing.T) {
	tr := newPositionTracker()
	a1, a2, a3 := tr.track("a", at(1)), tr.track("a", at(2)), tr.track("a", at(3))
	b1 := tr.track("b", at(10))
	if got := checkpointsString(tr.resolved()); got != "" {
		t.Fatalf("nothing resolved yet, got %s", got)
	}
	a3.resolve()
	a2.resolve()
	if got := checkpointsString(tr.resolved()); got != "" {
		t.Fatalf("a1 is unresolved: nothing of a may move, got %s", got)
	}
	b1.resolve()
	if got := checkpointsString(tr.resolved()); got != `b@{"n":10}` {
		t.Fatalf("got %s, want b at 10 only", got)
	}
	a1.resolve()
	if got := checkpointsString(tr.resolved()); got != `a@{"n":3} b@{"n":10}` {
		t.Fatalf("got %s, want a past all three batches", got)
	}
	if n := len(tr.parts["a"].queue); n != 0 {
		t.Fatalf("%d resolved batches still queued", n)
	}
}

// TestTrackerUncommitted: only partitions whose resolved position moved
// since the last markCommitted are uncommitted; seeded positions count as
// committed, and stay in resolved.
func TestTrackerUncommitted(t *testing.T) {
	tr := newPositionTracker()
	tr.seed([]Checkpoint{{Partition: "old", Position: at(7)}, {Partition: "a", Position: at(1)}})
	if got := checkpointsString(tr.uncommitted()); got != "" {
		t.Fatalf("seeded positions are committed, got %s", got)
	}
	tr.track("a", at(2)).resolve()
	up := tr.uncommitted()
	if got := checkpointsString(up); got != `a@{"n":2}` {
		t.Fatalf("uncommitted %s, want a at 2", got)
	}
	if got := checkpointsString(tr.resolved()); got != `a@{"n":2} old@{"n":7}` {
		t.Fatalf("resolved %s, want both partitions", got)
	}
	tr.markCommitted(up)
	if got := checkpointsString(tr.uncommitted()); got != "" {
		t.Fatalf("after markCommitted: %s", got)
	}
	// A batch that never resolves (its write failed) holds its partition
	// where it was, whatever comes after it.
	tr.track("a", at(3))
	tr.track("a", at(4)).resolve()
	if got := checkpointsString(tr.uncommitted()); got != "" {
		t.Fatalf("past an unresolved batch: %s", got)
	}
}
