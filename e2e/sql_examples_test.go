package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/internal/dbtest"
)

// ordersTable is the orders table of the Kafka Connect walk-through, as
// pipelines/mysql-orders.yaml documents it, and its PostgreSQL twin.
var ordersTable = map[dbtest.Kind]string{
	dbtest.MariaDB: `CREATE TABLE orders (id BIGINT PRIMARY KEY AUTO_INCREMENT, user_id BIGINT NOT NULL,
		amount DECIMAL(10,2) NOT NULL, status VARCHAR(32) NOT NULL,
		updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP)`,
	dbtest.Postgres: `CREATE TABLE orders (id bigserial PRIMARY KEY, user_id bigint NOT NULL,
		amount numeric(10,2) NOT NULL, status varchar(32) NOT NULL, updated_at timestamptz NOT NULL DEFAULT now());
		CREATE INDEX ON orders (updated_at)`,
}

// checkMySQLOrdersExample runs pipelines/mysql-orders.yaml against a real
// MariaDB and the real broker, as the walk-through does: two orders
// inserted appear in mysql.orders keyed by id with their amounts exact;
// an UPDATE of one gives one new record with the latest fields and a later
// read_ts; read back with kcat.
func checkMySQLOrdersExample(t *testing.T, file string) {
	checkOrdersSync(t, file, dbtest.MariaDB, "MYSQL_DSN", "mysql.orders", "UPDATE orders SET status='PAID' WHERE id=2")
}

// checkPostgresOrdersExample is the same for pipelines/postgres-orders.yaml.
func checkPostgresOrdersExample(t *testing.T, file string) {
	checkOrdersSync(t, file, dbtest.Postgres, "PG_DSN", "postgres.orders", "UPDATE orders SET status='PAID', updated_at=now() WHERE id=2")
}

func checkOrdersSync(t *testing.T, file string, kind dbtest.Kind, dsnVar, topic, update string) {
	bootstrap := startKafka(t)
	server := dbtest.Shared(t, kind)
	db, dsn := server.NewDatabase(t)
	server.Exec(t, db, ordersTable[kind])
	newProgress(t, bootstrap).createTopicPartitions(t, topic, 1)
	p := startPipelineArgs(t, []string{dsnVar + "=" + dsn, "KAFKA_BROKERS=" + bootstrap, "STATE_DIR=" + t.TempDir()}, "run", "-c", file)
	defer p.stop(t)

	server.Exec(t, db, "INSERT INTO orders (user_id, amount, status) VALUES (1001, 19.90, 'PAID'), (1002, 59.00, 'CREATED')")
	first := awaitOrders(t, p, bootstrap, topic, 2)
	for i, want := range []struct{ key, user, amount, status string }{{"1", "1001", `"19.90"`, `"PAID"`}, {"2", "1002", `"59.00"`, `"CREATED"`}} {
		got := first[i]
		if got.key != want.key || string(got.fields["user_id"]) != want.user || string(got.fields["amount"]) != want.amount ||
			string(got.fields["status"]) != want.status || got.readTS == 0 {
			t.Errorf("record %d: key %s value %s, want key %s user_id %s amount %s status %s and a read_ts", i, got.key, got.raw, want.key, want.user, want.amount, want.status)
		}
	}
	server.Exec(t, db, update)
	all := awaitOrders(t, p, bootstrap, topic, 3)
	changed := all[2]
	if changed.key != "2" || string(changed.fields["status"]) != `"PAID"` || string(changed.fields["amount"]) != `"59.00"` || changed.readTS <= first[1].readTS {
		t.Errorf("after the update: key %s value %s; want key 2, status PAID, amount 59.00, read_ts after %d", changed.key, changed.raw, first[1].readTS)
	}
	time.Sleep(3 * time.Second) // three more polls
	if n := len(kcatLines(t, bootstrap, topic, "%k\n")); n != 3 {
		t.Errorf("%s has %d records after three more polls, want 3", topic, n)
	}
}

type orderRecord struct {
	key    string
	raw    string
	fields map[string]json.RawMessage
	readTS int64
}

// awaitOrders reads topic with kcat until it holds n records.
func awaitOrders(t *testing.T, p *bgPipeline, bootstrap, topic string, n int) []orderRecord {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		lines := kcatLines(t, bootstrap, topic, "%k\t%s\n")
		if len(lines) >= n {
			var out []orderRecord
			for _, l := range lines {
				key, value, _ := strings.Cut(l, "\t")
				r := orderRecord{key: key, raw: value}
				if err := json.Unmarshal([]byte(value), &r.fields); err != nil {
					t.Fatalf("record %q: %v", l, err)
				}
				json.Unmarshal(r.fields["read_ts"], &r.readTS)
				out = append(out, r)
			}
			return out
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("%s has %d records, want %d; the pipeline said:\n%s", topic, len(lines), n, p.stderr())
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// checkKafkaToPostgresExample runs pipelines/kafka-to-postgres.yaml: a
// compacted customers topic (produced with kcat) upserted into a real
// PostgreSQL table; tombstones delete; a credit the column would round and
// a missing name go to the dead-letter file with the reason; the table,
// read with psql, ends as the topic's last row of each key.
func checkKafkaToPostgresExample(t *testing.T, file string) {
	bootstrap := startKafka(t)
	server := dbtest.Shared(t, dbtest.Postgres)
	db, dsn := server.NewDatabase(t)
	server.Exec(t, db, `CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL, tier text, credit numeric(18,2), updated_at timestamptz)`)
	topic := kafkaTestName(t, "customers")
	state := t.TempDir()
	dlq := filepath.Join(state, "dead-letter.jsonl")
	kcat(t, strings.Join([]string{
		`1:{"name":"Ada","tier":"gold","credit":"1200.50"}`,
		`2:{"name":"Bob","tier":"silver","credit":10}`,
		`3:{"name":"Cy","credit":"12.345"}`, // rounded by numeric(12,2): refused
		`4:{"tier":"none"}`,                 // no name: NOT NULL
		`1:{"name":"Ada L.","tier":"platinum","credit":"9007199254740.99"}`,
		`2:`, // a tombstone: Bob is deleted
		`5:{"name":"Eve","tier":null,"credit":0.1}`,
	}, "\n")+"\n", "-P", "-b", bootstrap, "-t", topic, "-K:", "-Z")
	p := startPipelineArgs(t, []string{"PG_DSN=" + dsn, "KAFKA_BROKERS=" + bootstrap, "STATE_DIR=" + state, "DEAD_LETTER=" + dlq},
		"run", "-c", file, "-s", "input.kafka.topics.0="+topic, "-s", "input.kafka.consumer_group="+topic)
	defer p.stop(t)
	want := "1|Ada L.|platinum|9007199254740.99\n5|Eve|NULL|0.10"
	deadline := time.Now().Add(60 * time.Second)
	for {
		rows := server.Query(t, db, "SELECT id, name, tier, credit FROM customers ORDER BY id")
		var got []string
		for _, r := range rows {
			got = append(got, strings.Join(r, "|"))
		}
		dead, _ := os.ReadFile(dlq)
		if strings.Join(got, "\n") == want && strings.Count(string(dead), "\n") == 2 {
			for _, reason := range []string{"credit is numeric with 2 decimals: 12.345 would be rounded", `null value in column \"name\"`} {
				if !strings.Contains(string(dead), reason) {
					t.Errorf("dead letters lack %q:\n%s", reason, dead)
				}
			}
			return
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("table:\n%s\nwant\n%s\ndead letters:\n%s\nthe pipeline said:\n%s", strings.Join(got, "\n"), want, dead, p.stderr())
		}
		time.Sleep(300 * time.Millisecond)
	}
}
