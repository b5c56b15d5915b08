package mysqlcdc

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/inputs/internal/cdctest"
)

// allTypes is a table with a column of each type the README maps.
const allTypes = `CREATE TABLE orders (
	id bigint PRIMARY KEY, amount decimal(10,2) NOT NULL, status varchar(16), at datetime(6), ts timestamp(3) NULL,
	d date, t time, doc json, raw varbinary(8), blob_col blob, txt text, f float, dbl double, small tinyint,
	big_u bigint unsigned, e enum('red','green'), s set('a','b','c'), flag bit(10), y year,
	tu tinyint unsigned, su smallint unsigned, m mediumint, mu mediumint unsigned, iu int unsigned)`

const allTypesRow = `(%d, 19.90, 'PAID', '2026-12-03 10:00:00.123456', '2026-12-03 10:00:01.500', '2026-12-03', '10:11:12',
	'{"n": 9007199254740993}', x'00ff', x'0102', 'héllo <&>', 0.1, 0.1, -5, 18446744073709551615, 'green', 'a,c', b'1000000001', 2026,
	255, 65535, -8388608, 16777215, 4294967295)`

// TestSnapshotThenStream: the rows there at the start come as reads (the
// last marked "last"), then inserts, updates and deletes (with their
// tombstone) as Debezium's events, keyed by the primary key; a streamed
// row is the same record value as the snapshot's of the same values.
func TestSnapshotThenStream(t *testing.T) {
	db := newDB(t)
	db.Exec(t, allTypes)
	db.Exec(t, "INSERT INTO orders VALUES "+strings.ReplaceAll(allTypesRow, "%d", "1")+
		", (2, 59.00, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)")
	in := started(t, db, "tables: [orders]")
	recs, pos := read(t, in, 2)
	first, second := cdctest.EnvelopeOf(t, recs[0]), cdctest.EnvelopeOf(t, recs[1])
	if first.Op != "r" || second.Op != "r" || first.Source["snapshot"] != "first" || second.Source["snapshot"] != "last" {
		t.Fatalf("snapshot events:\n%s", cdctest.Describe(recs))
	}
	if string(recs[0].Key) != `{"id":1}` || recs[0].Op != engine.OpRead {
		t.Errorf("key %s op %s, want {\"id\":1} r", recs[0].Key, recs[0].Op)
	}
	b, _ := recs[0].Bytes()
	for _, want := range []string{`"amount":"19.90"`, `"at":"2026-12-03T10:00:00.123456Z"`, `"ts":"2026-12-03T10:00:01.5Z"`,
		`"d":"2026-12-03"`, `"t":"10:11:12"`, `"doc":"{\"n\": 9007199254740993}"`, `"raw":"AP8="`, `"blob_col":"AQI="`,
		`"txt":"héllo \u003c\u0026\u003e"`, `"f":0.1`, `"dbl":0.1`, `"small":-5`, `"big_u":18446744073709551615`,
		`"e":"green"`, `"s":"a,c"`, `"flag":"AgE="`, `"y":2026`, `"tu":255`, `"su":65535`, `"m":-8388608`, `"mu":16777215`,
		`"iu":4294967295`, `"before":null`, `"db":"` + db.Name + `"`,
		`"table":"orders"`, `"connector":"mariadb"`, `"name":"mysql"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("snapshot row lacks %s:\n%s", want, b)
		}
	}
	if got := recs[0].Source.Meta["topic"]; got != "mysql."+db.Name+".orders" {
		t.Errorf("meta.topic %v, want mysql.%s.orders", got, db.Name)
	}
	if pos.Has("snapshot_rows") {
		t.Errorf("the snapshot's last batch carries %s, want a streaming position", pos)
	}
	db.Exec(t, "INSERT INTO orders VALUES "+strings.ReplaceAll(allTypesRow, "%d", "3")+`;
		UPDATE orders SET status = 'SHIPPED' WHERE id = 1;
		DELETE FROM orders WHERE id = 2`)
	recs, _ = read(t, in, 4)
	var ops []string
	for _, r := range recs {
		if r.IsTombstone() {
			ops = append(ops, "tombstone "+string(r.Key))
			continue
		}
		ops = append(ops, cdctest.EnvelopeOf(t, r).Op+" "+string(r.Key))
	}
	if got, want := strings.Join(ops, ", "), `c {"id":3}, u {"id":1}, d {"id":2}, tombstone {"id":2}`; got != want {
		t.Fatalf("changes %s, want %s\n%s", got, want, cdctest.Describe(recs))
	}
	created, upd, del := cdctest.EnvelopeOf(t, recs[0]), cdctest.EnvelopeOf(t, recs[1]), cdctest.EnvelopeOf(t, recs[2])
	created.After["id"] = first.After["id"]
	if a, b := mustJSON(t, created.After), mustJSON(t, first.After); a != b {
		t.Errorf("the streamed row differs from the snapshot's of the same values:\nstreamed %s\nsnapshot %s", a, b)
	}
	if upd.Before["status"] != "PAID" || upd.After["status"] != "SHIPPED" || upd.After["amount"] != "19.90" {
		t.Errorf("update: before %v, after %v", upd.Before, upd.After)
	}
	if del.After != nil || del.Before["id"] != json.Number("2") || upd.Source["snapshot"] != "false" ||
		upd.Source["file"] == nil || upd.Source["server_id"] != json.Number("1") {
		t.Errorf("delete: before %v after %v; update source %v", del.Before, del.After, upd.Source)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
