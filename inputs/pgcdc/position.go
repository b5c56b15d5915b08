package pgcdc

import (
	"fmt"

	"github.com/jackc/pglogrepl"
	"github.com/pipelinehq/pipeline/engine"
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
	if p.snapshot {
		return engine.IntPosition("lsn", int64(p.lsn)).WithInt("snapshot_rows", p.rows)
	}
	return engine.IntPosition("lsn", int64(p.lsn)).WithInt("events", p.events)
}

func positionOf(ep engine.Position) (position, error) {
	lsn, err := ep.Int("lsn")
	if err != nil {
		return position{}, err
	}
	if lsn < 0 {
		return position{}, fmt.Errorf("position %s: lsn is negative", ep)
	}
	p := position{lsn: pglogrepl.LSN(lsn)}
	if ep.Has("snapshot_rows") {
		p.snapshot = true
		p.rows, err = ep.Int("snapshot_rows")
		return p, err
	}
	p.events, err = ep.Int("events")
	if err == nil && p.events < 0 {
		err = fmt.Errorf("position %s: events is negative", ep)
	}
	return p, err
}

func (p position) String() string {
	if p.snapshot {
		return fmt.Sprintf("snapshot at %s, %d rows read", p.lsn, p.rows)
	}
	return fmt.Sprintf("transaction %s, %d changes", p.lsn, p.events)
}
