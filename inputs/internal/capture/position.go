package capture

import (
	"fmt"
	"log/slog"

	"github.com/pipelinehq/pipeline/engine"
)

// Progress is the part of a position both inputs keep after where in the
// log it is: during the snapshot, the rows handed on; after it, the
// changes handed on of the transaction the position names, which a
// restart skips.
type Progress struct {
	Snapshot bool  // the snapshot is not finished
	Rows     int64 // snapshot rows handed on
	Events   int64 // changes of the transaction handed on
}

// With adds the progress to the position ep.
func (p Progress) With(ep engine.Position) engine.Position {
	if p.Snapshot {
		return ep.WithInt("snapshot_rows", p.Rows)
	}
	return ep.WithInt("events", p.Events)
}

// ProgressOf reads the progress of a committed position.
func ProgressOf(ep engine.Position) (Progress, error) {
	if ep.Has("snapshot_rows") {
		rows, err := ep.Int("snapshot_rows")
		if err == nil && rows < 0 {
			err = fmt.Errorf("position %s: snapshot_rows is negative", ep)
		}
		return Progress{Snapshot: true, Rows: rows}, err
	}
	events, err := ep.Int("events")
	if err == nil && events < 0 {
		err = fmt.Errorf("position %s: events is negative", ep)
	}
	return Progress{Events: events}, err
}

// Resumed is the committed position of the input's one partition, parsed,
// or nil when none was committed; the positions of other partitions are
// logged and ignored. path names the input in errors.
func Resumed[P any](points []engine.Checkpoint, partition string, parse func(engine.Position) (P, error), log *slog.Logger, path string) (*P, error) {
	var resumed *P
	for _, cp := range points {
		if cp.Partition != partition {
			log.Warn("a committed position of another partition is ignored", "partition", cp.Partition, "position", cp.Position)
			continue
		}
		p, err := parse(cp.Position)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		resumed = &p
	}
	return resumed, nil
}
