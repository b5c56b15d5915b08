package sqlsink

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/internal/dbtest"
)

func rec(key, value string) *engine.Record {
	var v []byte
	if value != "" {
		v = []byte(value)
	}
	r := engine.NewRecord(v, engine.JSON)
	r.SetKeyFromInput([]byte(key))
	return r
}

func createCustomers(t *testing.T, db testDB) {
	db.Exec(t, db.Pick(
		`CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL, tier int, amount numeric(10,2), UNIQUE (name))`,
		`CREATE TABLE customers (id BIGINT PRIMARY KEY, name VARCHAR(64) NOT NULL, tier INT, amount DECIMAL(10,2), UNIQUE (name))`))
}

// TestUpsertAndDelete: upserts replace the row of their key, in order,
// within one Write and across Writes; a tombstone and a delete change
// remove their key's row; amounts and big integers are written exactly.
func TestUpsertAndDelete(t *testing.T) {
	forEachDB(t, func(t *testing.T, db testDB) {
		createCustomers(t, db)
		o := started(t, db, "table: customers\n")
		del := rec("3", `{"id":3,"name":"c"}`)
		del.Op = engine.OpDelete
		must(t, o.Write(context.Background(), []*engine.Record{
			rec("1", `{"id":1,"name":"a","tier":1,"amount":"19.90"}`),
			rec("2", `{"id":2,"name":"b","amount":59.00}`),
			rec("1", `{"id":1,"name":"a2","tier":2,"amount":0.1}`),
			rec("3", `{"id":3,"name":"c"}`),
			rec("4", `{"id":9007199254740993,"name":"big","amount":"12345678.99"}`),
		}))
		must(t, o.Write(context.Background(), []*engine.Record{rec("2", ""), del, rec("1", `{"id":1,"name":"a3"}`)}))
		want := "1|a3|NULL|NULL\n9007199254740993|big|NULL|12345678.99"
		if got := db.Rows(t, "SELECT id, name, tier, amount FROM customers ORDER BY id"); got != want {
			t.Errorf("table:\n%s\nwant\n%s", got, want)
		}
	})
}

// TestRefusedRowsAreRejectedAlone: a duplicate, a NULL in a NOT NULL
// column, a value the column would round and a field that is no column
// are each rejected with the reason, and every other record of the Write
// is written, in one transaction.
func TestRefusedRowsAreRejectedAlone(t *testing.T) {
	forEachDB(t, func(t *testing.T, db testDB) {
		createCustomers(t, db)
		o := started(t, db, "table: customers\nmode: insert\n")
		err := o.Write(context.Background(), []*engine.Record{
			rec("1", `{"id":1,"name":"a"}`),
			rec("2", `{"id":2,"name":"a"}`),                 // duplicate name
			rec("3", `{"id":3}`),                            // name NULL
			rec("4", `{"id":4,"name":"d","amount":19.999}`), // would round
			rec("5", `{"id":5,"name":"e","colour":"red"}`),  // no column
			rec("6", `{"id":6,"name":"f","tier":"x"}`),      // not an integer
			rec("7", `{"id":7,"name":"g","amount":"19.90"}`),
		})
		var rejected *engine.RecordsRejected
		if !errors.As(err, &rejected) {
			t.Fatalf("Write: %v, want rejections", err)
		}
		sort.Slice(rejected.Rejects, func(i, j int) bool { return rejected.Rejects[i].Index < rejected.Rejects[j].Index })
		var got []string
		for _, r := range rejected.Rejects {
			got = append(got, string(rune('0'+r.Index))+": "+r.Err.Error())
		}
		for i, want := range []string{"1: table customers refused the row", "2: table customers refused the row",
			"3: column amount is decimal with 2 decimals: 19.999 would be rounded", `4: field "colour" is no column`,
			"5: table customers refused the row"} {
			if i >= len(got) || !strings.HasPrefix(strings.Replace(got[i], "numeric", "decimal", 1), want) {
				t.Errorf("rejection %d: %v, want %s…", i, got, want)
			}
		}
		if len(got) != 5 {
			t.Errorf("%d rejections: %s", len(got), strings.Join(got, "\n"))
		}
		if rows := db.Rows(t, "SELECT id, name, amount FROM customers ORDER BY id"); rows != "1|a|NULL\n7|g|19.90" {
			t.Errorf("table:\n%s", rows)
		}
	})
}

// TestWriteFailsWhileTheServerIsDownAndWritesOnceItIsBack: a Write to a
// crashed server fails whole (the engine retries it, committing nothing
// upstream); after the restart the same Write succeeds.
func TestWriteFailsWhileTheServerIsDownAndWritesOnceItIsBack(t *testing.T) {
	for _, kind := range []dbtest.Kind{dbtest.Postgres, dbtest.MariaDB} {
		t.Run(string(kind), func(t *testing.T) {
			s := dbtest.New(t, kind)
			db := s.Database(t)
			createCustomers(t, db)
			o := started(t, db, "table: customers\n")
			must(t, o.Write(context.Background(), []*engine.Record{rec("1", `{"id":1,"name":"a"}`)}))
			s.Kill(t)
			batch := []*engine.Record{rec("2", `{"id":2,"name":"b"}`), rec("3", `{"id":3,"name":"c"}`)}
			err := o.Write(context.Background(), batch)
			var rejected *engine.RecordsRejected
			if err == nil || errors.As(err, &rejected) {
				t.Fatalf("Write to a crashed server: %v, want a failure of the whole Write", err)
			}
			s.Start(t)
			must(t, o.Write(context.Background(), batch))
			if rows := db.Rows(t, "SELECT id FROM customers ORDER BY id"); rows != "1\n2\n3" {
				t.Errorf("table:\n%s", rows)
			}
		})
	}
}

func TestStartErrorsNameTheSetting(t *testing.T) {
	forEachDB(t, func(t *testing.T, db testDB) {
		createCustomers(t, db)
		db.Exec(t, "CREATE TABLE nokey (a int, b int)")
		for _, tt := range []struct{ fields, want string }{
			{"table: nosuch\n", "output.sql.table: table nosuch does not exist"},
			{"table: nokey\n", "output.sql.key_columns: table nokey has no primary key"},
			{"table: customers\ncolumns: {id: value.id, nam: value.name}\n", `output.sql.columns: table customers has no column "nam", did you mean "name"?`},
			{"table: customers\nkey_columns: [idd]\n", `output.sql.key_columns: table customers has no column "idd"`},
			{"table: customers\ncolumns: {name: value.name}\n", "output.sql.columns: upsert needs the key column id"},
		} {
			err := newOutput(t, db, tt.fields).Start(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s: %v\nwant %s", tt.fields, err, tt.want)
			}
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
