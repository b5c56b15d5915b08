package pgcdc

import (
	"fmt"

	"github.com/jackc/pglogrepl"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/inputs/internal/capture"
)

// position is where the input stands. While streaming it is a transaction
// (its commit LSN) and how many of its changes were handed on: a restart
// asks the server for the transactions from that one on and skips the
// changes already handed on, so that a transaction split over batches is
// neither lost nor repeated. While the snapshot runs it is the slot's
// consistent point and the rows read so far; a snapshot cut short is read
// again from its start.
type position struct {
	lsn      pglogrepl.LSN // a transaction's commit LSN; the slot's consistent point while snapshotting
	events   int64         // changes of that transaction handed on
	snapshot bool          // the snapshot is not finished
	rows     int64         // snapshot rows handed on
}

func (p position) engine() engine.Position {
	return p.progress().With(engine.IntPosition("lsn", int64(p.lsn)))
}

func (p position) progress() capture.Progress {
	return capture.Progress{Snapshot: p.snapshot, Rows: p.rows, Events: p.events}
}

func positionOf(ep engine.Position) (position, error) {
	lsn, err := ep.Int("lsn")
	if err != nil {
		return position{}, err
	}
	if lsn < 0 {
		return position{}, fmt.Errorf("position %s: lsn is negative", ep)
	}
	pr, err := capture.ProgressOf(ep)
	return position{lsn: pglogrepl.LSN(lsn), snapshot: pr.Snapshot, rows: pr.Rows, events: pr.Events}, err
}

func (p position) String() string {
	if p.snapshot {
		return fmt.Sprintf("snapshot at %s, %d rows read", p.lsn, p.rows)
	}
	return fmt.Sprintf("transaction %s, %d changes", p.lsn, p.events)
}
