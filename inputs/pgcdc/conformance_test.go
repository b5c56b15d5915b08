package pgcdc

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/conformance"
	"github.com/pipelinehq/pipeline/engine/enginetest"
	"github.com/pipelinehq/pipeline/inputs/internal/cdctest"
)

var conformanceTables atomic.Int64

// TestConformance runs the input suite over the stream: each source is a
// table with its own slot, made before the records are put (one
// transaction, so that batches split it), read in the row envelope keyed
// by the primary key.
func TestConformance(t *testing.T) {
	db := newDB(t)
	conformance.TestInput(t, conformance.InputHarness{
		NoTombstones: "an inserted row is always a value",
		Source: func(t *testing.T) conformance.InputSource {
			table := fmt.Sprintf("conf%d", conformanceTables.Add(1))
			db.Exec(t, "CREATE TABLE "+table+" (id bigserial PRIMARY KEY, k text NOT NULL, v text NOT NULL);"+
				"CREATE PUBLICATION "+table+" FOR TABLE "+table)
			db.Exec(t, "SELECT pg_create_logical_replication_slot('"+table+"', 'pgoutput')")
			return conformance.InputSource{
				Put: cdctest.InsertAll(table, db.Exec),
				New: func(t *testing.T) engine.Input {
					return enginetest.NewInput(t, Plugin(), "cdc", fmt.Sprintf("dsn: %q\nslot: %s\ntables: [%s]\n"+
						"snapshot_mode: no_data\nenvelope: row\nbatch_max_events: 7\nheartbeat_interval: 100ms\n", db.DSN, table, table))
				},
			}
		},
	})
}
