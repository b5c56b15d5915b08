package mysqlcdc

import (
	"fmt"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/inputs/internal/capture"
)

// position is where the input stands. While streaming it is where a
// transaction begins in the binlog (file and offset) and how many of its
// changes were handed on: a restart reads the binlog from there and skips
// the changes already handed on, so that a transaction split over batches
// is neither lost nor repeated. While the snapshot runs it is the binlog
// position the snapshot is consistent with and the rows read so far; a
// snapshot cut short is read again from its start.
type position struct {
	file     string
	offset   uint32
	events   int64 // changes of the transaction at offset handed on
	snapshot bool  // the snapshot is not finished
	rows     int64 // snapshot rows handed on
}

func (p position) engine() engine.Position {
	pr := capture.Progress{Snapshot: p.snapshot, Rows: p.rows, Events: p.events}
	return pr.With(engine.Position{}.WithString("file", p.file).WithInt("pos", int64(p.offset)))
}

func positionOf(ep engine.Position) (position, error) {
	file, err := ep.Str("file")
	if err != nil {
		return position{}, err
	}
	offset, err := ep.Int("pos")
	if err != nil {
		return position{}, err
	}
	if file == "" || offset < 4 || offset > 1<<32-1 {
		return position{}, fmt.Errorf("position %s is not a binlog position", ep)
	}
	pr, err := capture.ProgressOf(ep)
	return position{file: file, offset: uint32(offset), snapshot: pr.Snapshot, rows: pr.Rows, events: pr.Events}, err
}

func (p position) String() string {
	if p.snapshot {
		return fmt.Sprintf("snapshot at %s:%d, %d rows read", p.file, p.offset, p.rows)
	}
	return fmt.Sprintf("transaction at %s:%d, %d changes", p.file, p.offset, p.events)
}
