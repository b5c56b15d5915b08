package mysqlcdc

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/conformance"
	"github.com/pipelinehq/pipeline/engine/enginetest"
	"github.com/pipelinehq/pipeline/inputs/internal/cdctest"
)

var conformanceTables atomic.Int64

// TestConformance runs the input suite over the binlog: each source is a
// table of its own, its records put in one transaction (so that batches
// split it), read in the row envelope keyed by the primary key. An input
// not resumed by the suite starts where the binlog ended when the table
// was made, as if that position had been committed.
func TestConformance(t *testing.T) {
	db := newDB(t)
	conformance.TestInput(t, conformance.InputHarness{
		NoTombstones: "an inserted row is always a value",
		Source: func(t *testing.T) conformance.InputSource {
			table := fmt.Sprintf("conf%d", conformanceTables.Add(1))
			db.Exec(t, "CREATE TABLE "+table+" (id bigint AUTO_INCREMENT PRIMARY KEY, k text NOT NULL, v text NOT NULL)")
			end := db.Server.Query(t, db.Name, "SHOW MASTER STATUS")[0]
			offset, err := strconv.ParseInt(end[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			start := engine.Checkpoint{Partition: partition,
				Position: engine.Position{}.WithString("file", end[0]).WithInt("pos", offset).WithInt("events", 0)}
			return conformance.InputSource{
				Put: cdctest.InsertAll(table, db.Exec),
				New: func(t *testing.T) engine.Input {
					in := enginetest.NewInput(t, Plugin(), "cdc", fmt.Sprintf("dsn: %q\nserver_id: %d\ntables: [%s]\n"+
						"snapshot_mode: no_data\nenvelope: row\nbatch_max_events: 7\nheartbeat_interval: 100ms\n",
						db.DSN, 5000+serverIDs.Add(1), table))
					return &fromTableStart{Input: in.(*Input), start: start}
				},
			}
		},
	})
}

// fromTableStart is an input that, unless resumed, resumes from start.
type fromTableStart struct {
	*Input
	start   engine.Checkpoint
	resumed bool
}

func (f *fromTableStart) Resume(cps []engine.Checkpoint) error {
	f.resumed = true
	return f.Input.Resume(cps)
}

func (f *fromTableStart) Start(ctx context.Context) error {
	if !f.resumed {
		if err := f.Input.Resume([]engine.Checkpoint{f.start}); err != nil {
			return err
		}
	}
	return f.Input.Start(ctx)
}
