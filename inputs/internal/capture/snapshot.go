package capture

import "github.com/pipelinehq/pipeline/engine"

// Snapshot batches a snapshot's records: the first row's records marked
// (Debezium's snapshot "first"), batches of at most max records handed on
// as they fill, and one row's records always kept back, so that the last
// batch, which ends the snapshot and carries the streaming position, is
// never empty.
type Snapshot struct {
	max       int
	markFirst func(*engine.Record)
	pending   []*engine.Record
	rows      int64
}

// NewSnapshot batches by at most max records; markFirst marks the first
// row's first record.
func NewSnapshot(max int, markFirst func(*engine.Record)) *Snapshot {
	return &Snapshot{max: max, markFirst: markFirst}
}

// Add takes one row's records; when a batch is full it is given to flush
// with the number of rows it completes.
func (s *Snapshot) Add(recs []*engine.Record, flush func(batch []*engine.Record, rowsHandedOn int64) error) error {
	s.rows++
	if s.rows == 1 && len(recs) > 0 {
		s.markFirst(recs[0])
	}
	s.pending = append(s.pending, recs...)
	if len(s.pending) <= s.max {
		return nil
	}
	batch := s.pending[:len(s.pending)-len(recs)]
	if len(batch) == 0 {
		return nil // one row's records fill a batch alone: they wait for the next
	}
	s.pending = append([]*engine.Record(nil), recs...)
	return flush(batch, s.rows-1)
}

// Rows is how many rows were added.
func (s *Snapshot) Rows() int64 { return s.rows }

// Rest is what was kept back: the snapshot's last batch.
func (s *Snapshot) Rest() []*engine.Record { return s.pending }
