package cdctest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/conformance"
)

// InsertAll is the conformance suite's Put for a table (id, k, v) with an
// id the database counts from 1: the records inserted in one statement,
// so that batches split its transaction, and expected back in the row
// envelope keyed by the id.
func InsertAll(table string, exec func(t testing.TB, sql string)) func(*testing.T, []conformance.Record) []conformance.Record {
	return func(t *testing.T, recs []conformance.Record) []conformance.Record {
		rows := make([]string, len(recs))
		want := make([]conformance.Record, len(recs))
		for i, r := range recs {
			rows[i] = fmt.Sprintf("('%s', '%s')", r.Key, r.Value)
			v, err := engine.EncodeJSON("row", map[string]any{"id": int64(i + 1), "k": string(r.Key), "v": string(r.Value)})
			if err != nil {
				t.Fatal(err)
			}
			k, _ := engine.EncodeJSON("key", map[string]any{"id": int64(i + 1)})
			want[i] = conformance.Record{Key: k, Value: v}
		}
		exec(t, "INSERT INTO "+table+" (k, v) VALUES "+strings.Join(rows, ", "))
		return want
	}
}
