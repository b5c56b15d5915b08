package sqlpoll

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/conformance"
)

var conformanceTables atomic.Int64

// TestConformance runs the input suite on each server, in mode
// incrementing: each record put is a row (id, k, v) keyed by k, read back
// as the row's JSON object.
func TestConformance(t *testing.T) {
	forEachDB(t, func(t *testing.T, db testDB) {
		conformance.TestInput(t, conformance.InputHarness{
			NoTombstones: "a row is always a value",
			Source: func(t *testing.T) conformance.InputSource {
				table := fmt.Sprintf("conf%d", conformanceTables.Add(1))
				db.Exec(t, db.Pick(
					"CREATE TABLE "+table+" (id bigserial PRIMARY KEY, k text NOT NULL, v text NOT NULL)",
					"CREATE TABLE "+table+" (id BIGINT AUTO_INCREMENT PRIMARY KEY, k TEXT NOT NULL, v TEXT NOT NULL)"))
				return conformance.InputSource{
					Put: func(t *testing.T, recs []conformance.Record) []conformance.Record {
						var rows []string
						want := make([]conformance.Record, len(recs))
						for i, r := range recs {
							rows = append(rows, fmt.Sprintf("('%s', '%s')", r.Key, r.Value))
							v, err := engine.EncodeJSON("row", map[string]any{"id": int64(i + 1), "k": string(r.Key), "v": string(r.Value)})
							if err != nil {
								t.Fatal(err)
							}
							want[i] = conformance.Record{Key: r.Key, Value: v}
						}
						db.Exec(t, "INSERT INTO "+table+" (k, v) VALUES "+strings.Join(rows, ", "))
						return want
					},
					New: func(t *testing.T) engine.Input {
						return newInput(t, db, "table: "+table+"\nmode: incrementing\nincrementing_column: id\nkey_columns: [k]\nbatch_max_rows: 7\n")
					},
				}
			},
		})
	})
}
