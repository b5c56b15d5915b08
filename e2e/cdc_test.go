package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/internal/dbtest"
)

// cdcEvent is one record of a CDC topic as kcat reads it back.
type cdcEvent struct {
	key, op string
	after   map[string]any
	before  map[string]any
	source  map[string]any
}

func (e cdcEvent) String() string {
	if e.op == "" {
		return "tombstone " + e.key
	}
	return e.op + " " + e.key
}

// kcatCDC reads topic read_committed with kcat.
func kcatCDC(t *testing.T, bootstrap, topic string) []cdcEvent {
	t.Helper()
	out := strings.TrimSuffix(kcat(t, "", "-C", "-b", bootstrap, "-t", topic, "-X", "isolation.level=read_committed",
		"-e", "-q", "-f", "%k\t%s\n"), "\n")
	if out == "" {
		return nil
	}
	return parseCDC(t, topic, out)
}

// parseCDC reads "key TAB value" lines of change events (an empty value:
// a tombstone).
func parseCDC(t *testing.T, what, lines string) []cdcEvent {
	t.Helper()
	var events []cdcEvent
	for _, line := range strings.Split(strings.TrimSuffix(lines, "\n"), "\n") {
		if line == "" {
			continue
		}
		key, value, _ := strings.Cut(line, "\t")
		e := cdcEvent{key: key}
		if value != "" {
			var v struct {
				Op                    string
				Before, After, Source map[string]any
			}
			if err := json.Unmarshal([]byte(value), &v); err != nil {
				t.Fatalf("%s: %q: %v", what, line, err)
			}
			e.op, e.before, e.after, e.source = v.Op, v.Before, v.After, v.Source
		}
		events = append(events, e)
	}
	return events
}

// awaitCDC reads topic until it holds n events.
func awaitCDC(t *testing.T, p *bgPipeline, bootstrap, topic string, n int) []cdcEvent {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		events := kcatCDC(t, bootstrap, topic)
		if len(events) >= n {
			return events
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("%s has %d events (%v), want %d; the pipeline said:\n%s", topic, len(events), events, n, lastLines(p.stderr(), 30))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func describeCDC(events []cdcEvent) string {
	s := make([]string, len(events))
	for i, e := range events {
		s[i] = e.String()
	}
	return strings.Join(s, ", ")
}

// checkPostgresCDCExample runs pipelines/postgres-cdc.yaml against a real
// PostgreSQL and the real broker (checkCDCExample).
func checkPostgresCDCExample(t *testing.T, file string) {
	checkCDCExample(t, file, dbtest.Postgres, "PG_DSN", func(db string) string { return "pg.public." },
		"SELECT pg_drop_replication_slot('pipeline_postgres_cdc')")
}

// checkMySQLCDCExample runs pipelines/mysql-cdc.yaml against a real
// MariaDB and the real broker (checkCDCExample).
func checkMySQLCDCExample(t *testing.T, file string) {
	checkCDCExample(t, file, dbtest.MariaDB, "MYSQL_DSN", func(db string) string { return "mysql." + db + "." }, "")
}

// checkCDCExample runs a CDC example: the two tables there at the start
// come as snapshot reads into <prefix>customers and <prefix>orders; an
// insert, an update and a delete then come as Debezium's c, u, d and a
// tombstone, keyed {"id":…}, amounts exact; read back with kcat,
// read_committed.
func checkCDCExample(t *testing.T, file string, kind dbtest.Kind, dsnVar string, prefix func(db string) string, cleanup string) {
	bootstrap := startKafka(t)
	server := dbtest.Shared(t, kind)
	db, dsn := server.NewDatabase(t)
	server.Exec(t, db, `CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
		CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int NOT NULL, amount numeric(10,2) NOT NULL);
		INSERT INTO customers VALUES (1, 'Ada'), (2, 'Bo'); INSERT INTO orders VALUES (10, 1, 19.90)`)
	admin := newProgress(t, bootstrap)
	customers, orders := prefix(db)+"customers", prefix(db)+"orders"
	for _, topic := range []string{customers, orders} {
		admin.createTopicPartitions(t, topic, 1)
	}
	p := startPipelineArgs(t, []string{dsnVar + "=" + dsn, "KAFKA_BROKERS=" + bootstrap, "STATE_DIR=" + t.TempDir()}, "run", "-c", file)
	defer func() {
		p.stop(t)
		if cleanup != "" {
			server.Exec(t, db, cleanup)
		}
	}()
	got := awaitCDC(t, p, bootstrap, customers, 2)
	if describeCDC(got) != `r {"id":1}, r {"id":2}` || got[0].after["name"] != "Ada" || got[0].source["table"] != "customers" {
		t.Fatalf("snapshot of customers: %v %v", describeCDC(got), got[0].after)
	}
	if o := awaitCDC(t, p, bootstrap, orders, 1); o[0].after["amount"] != "19.90" || o[0].source["snapshot"] != "last" && o[0].source["snapshot"] != "true" {
		t.Fatalf("snapshot of orders: %v %v %v", describeCDC(o), o[0].after, o[0].source)
	}
	server.Exec(t, db, "INSERT INTO customers VALUES (3, 'Cy'); UPDATE orders SET amount = 25.00 WHERE id = 10; DELETE FROM customers WHERE id = 2")
	got = awaitCDC(t, p, bootstrap, customers, 5)
	if want := `r {"id":1}, r {"id":2}, c {"id":3}, d {"id":2}, tombstone {"id":2}`; describeCDC(got) != want {
		t.Fatalf("customers: %s, want %s", describeCDC(got), want)
	}
	if got[3].before["id"] == nil || got[3].after != nil || got[2].source["snapshot"] != "false" {
		t.Errorf("delete event: before %v after %v", got[3].before, got[3].after)
	}
	o := awaitCDC(t, p, bootstrap, orders, 2)
	if describeCDC(o) != `r {"id":10}, u {"id":10}` || o[1].after["amount"] != "25.00" {
		t.Fatalf("orders: %s, last after %v", describeCDC(o), o[1].after)
	}
}

// TestPostgresCDCSIGKILL: postgres_cdc to Kafka under exactly_once, killed
// with SIGKILL ten times (30 under STRESS) while it streams the changes of
// a table being written to — small transactions, and one large one that
// batches split: read_committed, every inserted row's event is in the
// output exactly once.
func TestPostgresCDCSIGKILL(t *testing.T) {
	t.Parallel()
	slot := fmt.Sprintf("cdc_kill_%d", time.Now().UnixNano()%1_000_000)
	testCDCSIGKILL(t, cdcKillCase{
		kind: dbtest.Postgres,
		rows: func(from, to int) string {
			return fmt.Sprintf("INSERT INTO events SELECT i, 'v' || i FROM generate_series(%d, %d) i;\n", from, to)
		},
		input: func(dsn string) string {
			return fmt.Sprintf("postgres_cdc: {dsn: %q, tables: [events], slot: %s, batch_max_events: 500, heartbeat_interval: 200ms}", dsn, slot)
		},
		cleanup: "SELECT pg_drop_replication_slot('" + slot + "')",
	})
}

// TestMySQLCDCSIGKILL: TestPostgresCDCSIGKILL for mysql_cdc on MariaDB,
// whose position is kept by the engine alone (in the transaction).
func TestMySQLCDCSIGKILL(t *testing.T) {
	t.Parallel()
	testCDCSIGKILL(t, cdcKillCase{
		kind: dbtest.MariaDB,
		rows: func(from, to int) string {
			return fmt.Sprintf("INSERT INTO events SELECT seq, CONCAT('v', seq) FROM seq_%d_to_%d;\n", from, to)
		},
		input: func(dsn string) string {
			return fmt.Sprintf("mysql_cdc: {dsn: %q, tables: [events], server_id: %d, batch_max_events: 500, heartbeat_interval: 200ms}",
				dsn, 10_000+time.Now().UnixNano()%1_000_000)
		},
	})
}

// cdcKillCase is a CDC input under testCDCSIGKILL.
type cdcKillCase struct {
	kind    dbtest.Kind
	rows    func(from, to int) string // SQL inserting rows from..to of events (id, v) in one transaction
	input   func(dsn string) string   // the input's config, one line
	cleanup string                    // SQL run at the end
}

func testCDCSIGKILL(t *testing.T, c cdcKillCase) {
	kills := stressed(10, 30)
	chunk := stressed(5000, 10000)
	bootstrap := startKafka(t)
	server := dbtest.Shared(t, c.kind)
	db, dsn := server.NewDatabase(t)
	server.Exec(t, db, "CREATE TABLE events (id bigint PRIMARY KEY, v text NOT NULL)")
	inserted := 0
	insert := func(rows, perTransaction int) {
		var sql strings.Builder
		for from := inserted + 1; from <= inserted+rows; from += perTransaction {
			sql.WriteString(c.rows(from, min(from+perTransaction-1, inserted+rows)))
		}
		server.Exec(t, db, sql.String())
		inserted += rows
	}
	out, name := kafkaTestName(t, "cdc"), kafkaTestName(t, "cdc-eos")
	admin := newProgress(t, bootstrap)
	admin.createTopic(t, out)
	cfg := writeConfig(t, fmt.Sprintf(`
name: %q
processing_guarantee: exactly_once
exactly_once: { transactional_id: %q, max_records: 2000 }
commit_interval: 50ms
input:
  %s
output:
  kafka: { brokers: [%q], topic: %q }
state: { dir: %q }
http: { enabled: false }
`, name, name+"-txn", c.input(dsn), bootstrap, out, t.TempDir()))
	if c.cleanup != "" {
		defer server.Exec(t, db, c.cleanup)
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 17))
	began := time.Now()
	var report []string
	for kill := 1; kill <= kills; kill++ {
		var p *bgPipeline
		switch kill {
		case 1:
			// The table is empty at the first start, and the first kill
			// comes once a change committed: a kill during the snapshot
			// would read it again (its rows repeat as reads, as
			// Debezium's do), and this test is about the stream.
			p = startPipeline(t, cfg)
			awaitLog(t, p, "streaming changes")
			insert(chunk, 100)
			for deadline := time.Now().Add(time.Minute); len(kcatKeysCommitted(t, bootstrap, out)) == 0; {
				if p.exited() || time.Now().After(deadline) {
					t.Fatalf("run 1 committed nothing:\n%s", lastLines(p.stderr(), 30))
				}
				time.Sleep(20 * time.Millisecond)
			}
			insert(chunk, 100)
		case 2:
			insert(2*chunk, 2*chunk) // one transaction, many batches
			p = startPipeline(t, cfg)
		default:
			insert(chunk, 100)
			p = startPipeline(t, cfg)
		}
		killOnceGrownFed(t, p, admin, out, int64(500*(1+rng.IntN(4))), kill, rng, func() { insert(chunk/10, 100) })
		if kill <= 3 || kill%5 == 0 {
			report = append(report, fmt.Sprintf("kill %d at %d records out of %d rows", kill, admin.records(out), inserted))
		}
	}
	insert(chunk, 100)
	last := startPipeline(t, cfg)
	defer last.stop(t)
	want := make([]string, inserted)
	for i := range want {
		want[i] = fmt.Sprintf(`{"id":%d}`, i+1)
	}
	got := awaitCommittedKeys(t, bootstrap, out, inserted, last)
	requireExactlyOnce(t, fmt.Sprintf("read_committed output after %d SIGKILLs", kills), got, want)
	t.Logf("%d SIGKILLs (%s): read_committed output holds each of the %d changes exactly once; in %v", kills,
		strings.Join(report, "; "), inserted, time.Since(began).Round(time.Millisecond))
}

// checkCDCEnrichExample runs pipelines/cdc-enrich.yaml against a real
// PostgreSQL and the real broker: orders produced with kcat are joined
// with the customers table as CDC reads it — its snapshot first, then its
// updates and deletes as they are followed.
func checkCDCEnrichExample(t *testing.T, file string) {
	bootstrap := startKafka(t)
	server := dbtest.Shared(t, dbtest.Postgres)
	db, dsn := server.NewDatabase(t)
	server.Exec(t, db, "CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL); INSERT INTO customers VALUES (1, 'Ada'), (2, 'Bo')")
	orders, out := kafkaTestName(t, "orders"), kafkaTestName(t, "enriched")
	p := startPipelineArgs(t, []string{"PG_DSN=" + dsn, "KAFKA_BROKERS=" + bootstrap, "STATE_DIR=" + t.TempDir()},
		"run", "-c", file, "-s", "input.kafka.topics.0="+orders, "-s", "output.kafka.topic="+out)
	defer p.stop(t)
	awaitLog(t, p, "the join's table is loaded")
	// joined produces an order for customer id and returns the customer it
	// was joined with.
	seq := 0
	joined := func(id int) any {
		t.Helper()
		seq++
		key := fmt.Sprintf("o%d", seq)
		kcatProduce(t, bootstrap, orders, []string{fmt.Sprintf(`%s:{"id":%d,"customer_id":%d,"amount":"19.90"}`, key, seq, id)})
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			all, err := kcatRead(bootstrap, out, "%k\t%s\n")
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range all {
				if k, v, _ := strings.Cut(l, "\t"); k == key {
					var result struct {
						Order    map[string]any
						Customer any
					}
					if err := json.Unmarshal([]byte(v), &result); err != nil {
						t.Fatal(err)
					}
					if result.Order["amount"] != "19.90" || result.Order["customer_id"] != float64(id) {
						t.Fatalf("order %s came out as %s", key, v)
					}
					return result.Customer
				}
			}
			if p.exited() || time.Now().After(deadline) {
				t.Fatalf("no result for order %s:\n%s", key, lastLines(p.stderr(), 30))
			}
		}
	}
	if c := joined(1); fmt.Sprint(c) != "map[id:1 name:Ada]" {
		t.Fatalf("order of customer 1 joined %v, want the snapshot's row", c)
	}
	if c := joined(3); c != nil {
		t.Fatalf("order of unknown customer 3 joined %v, want null", c)
	}
	server.Exec(t, db, "UPDATE customers SET name = 'Ada L' WHERE id = 1; DELETE FROM customers WHERE id = 2")
	// The changes reach the table once they are read: orders until then
	// see the old rows.
	for i := 0; ; i++ {
		c1 := fmt.Sprint(joined(1))
		if c1 == "map[id:1 name:Ada L]" {
			break
		}
		if c1 != "map[id:1 name:Ada]" || i == 50 {
			t.Fatalf("order of customer 1 joined %s, want the updated row", c1)
		}
	}
	for i := 0; ; i++ {
		c2 := joined(2)
		if c2 == nil {
			break
		}
		if fmt.Sprint(c2) != "map[id:2 name:Bo]" || i == 50 {
			t.Fatalf("order of deleted customer 2 joined %v, want null", c2)
		}
	}
}
