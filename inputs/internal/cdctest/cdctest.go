package cdctest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/engine"
)

// Churn writes to table (id int primary key, v int, s text), whose rows
// have ids 1..rows, until ctx ends: inserts of new ids, updates and
// deletes of random ones, each its own statement through exec. It returns
// how many statements ran, once ctx ended and the last one is done.
func Churn(ctx context.Context, table string, rows int, exec func(ctx context.Context, sql string) error) (int, error) {
	r := rand.New(rand.NewPCG(uint64(rows), 7))
	next := rows + 1
	n := 0
	for ctx.Err() == nil {
		var q string
		switch r.IntN(3) {
		case 0:
			q = fmt.Sprintf("INSERT INTO %s (id, v, s) VALUES (%d, %d, 'new %d')", table, next, r.IntN(1000), next)
			next++
		case 1:
			id := 1 + r.IntN(next-1)
			q = fmt.Sprintf("UPDATE %s SET v = v + 1, s = 'upd %d' WHERE id = %d", table, n, id)
		default:
			q = fmt.Sprintf("DELETE FROM %s WHERE id = %d", table, 1+r.IntN(next-1))
		}
		// Not cancelled with ctx: a statement cut short by its client may
		// still commit after it returned, past the end the test marks.
		if err := exec(context.Background(), q); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Rebuild applies in's records in order to a table keyed by record key —
// a read, create or update puts the row, a delete removes it — until the
// record keyed until came, and returns the rows (the row envelope: the
// value is the row).
func Rebuild(t *testing.T, in engine.Input, until string, timeout time.Duration) map[string]map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	table := map[string]map[string]any{}
	for {
		b, err := in.Read(ctx)
		if err != nil {
			t.Fatalf("after %d rows: %v", len(table), err)
		}
		for _, r := range b.Records {
			key := string(r.Key)
			if r.Op == engine.OpDelete {
				delete(table, key)
				continue
			}
			v, err := r.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			var row map[string]any
			d := json.NewDecoder(bytes.NewReader(v))
			d.UseNumber()
			if err := d.Decode(&row); err != nil {
				t.Fatalf("%s: %v", v, err)
			}
			table[key] = row
			if key == until {
				return table
			}
		}
	}
}

// Compare fails t unless rebuilt holds exactly the rows (id, v, s as the
// database's client prints them), keyed {"id":N}.
func Compare(t *testing.T, rebuilt map[string]map[string]any, rows [][]string) {
	t.Helper()
	if len(rebuilt) != len(rows) {
		t.Errorf("rebuilt %d rows, the table has %d", len(rebuilt), len(rows))
	}
	wrong := 0
	for _, r := range rows {
		key := `{"id":` + r[0] + `}`
		got, ok := rebuilt[key]
		if !ok || fmt.Sprint(got["id"]) != r[0] || fmt.Sprint(got["v"]) != r[1] || fmt.Sprint(got["s"]) != r[2] {
			if wrong++; wrong <= 10 {
				t.Errorf("row %v: rebuilt %v (present: %v)", r, got, ok)
			}
		}
	}
	if wrong > 10 {
		t.Errorf("… %d rows differ in all", wrong)
	}
}

// Database is what SnapshotUnderWrites needs of a database holding the
// table t (id int primary key, v int, s text) with ids 1..rows.
type Database struct {
	Exec  func(ctx context.Context, sql string) error // on a connection of its own
	Start func(t *testing.T) engine.Input             // a started input of t: row envelope, no tombstones
	Query func(t *testing.T, sql string) [][]string   // through the database's own client
}

// SnapshotUnderWrites starts an input of t while a writer churns it for a
// few seconds, and wants the table rebuilt from the input's records equal
// to the database's at the end, exactly.
func SnapshotUnderWrites(t *testing.T, rows int, db Database) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	churned := make(chan int, 1)
	go func() {
		n, err := Churn(ctx, "t", rows, db.Exec)
		if err != nil {
			t.Error(err)
		}
		churned <- n
	}()
	in := db.Start(t)
	// The writes go on through the snapshot and a while after it.
	time.AfterFunc(4*time.Second, stop)
	n := <-churned
	// Through the client: the writer's connection may have died with its
	// cancelled statement.
	db.Query(t, "INSERT INTO t VALUES (0, 0, 'the end')")
	rebuilt := Rebuild(t, in, `{"id":0}`, 2*time.Minute)
	if n < 100 {
		t.Fatalf("only %d writes ran beside the snapshot", n)
	}
	t.Logf("%d writes beside the snapshot of %d rows", n, rows)
	Compare(t, rebuilt, db.Query(t, "SELECT id, v, s FROM t ORDER BY id"))
}
