package e2e

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/internal/dbtest"
)

// TestSQLPollSIGKILL (issue 13, item 6): a 100k-row table streams to Kafka
// through sql_poll in timestamp+incrementing mode (a hundred rows share
// each timestamp, so batches end inside a timestamp), and the pipeline is
// killed with SIGKILL ten times at random moments, each once the output
// grew by another 1000-3000 records, restarted on the same state each
// time. Under at_least_once (PostgreSQL) every row reaches the topic;
// under exactly_once (MariaDB; the cursor commits in the Kafka
// transaction) a read_committed read holds every row exactly once.
func TestSQLPollSIGKILL(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		guarantee string
		kind      dbtest.Kind
	}{{"at_least_once", dbtest.Postgres}, {"exactly_once", dbtest.MariaDB}} {
		t.Run(tt.guarantee, func(t *testing.T) {
			t.Parallel()
			testSQLPollSIGKILL(t, tt.guarantee, tt.kind)
		})
	}
}

func testSQLPollSIGKILL(t *testing.T, guarantee string, kind dbtest.Kind) {
	n := stressed(100_000, 300_000)
	kills := stressed(10, 30)
	bootstrap := startKafka(t)
	server := dbtest.Shared(t, kind)
	db, dsn := server.NewDatabase(t)
	driver := "postgres"
	inserted := 0
	// insert adds rows inserted+1 … inserted+rows, a hundred per second
	// of timestamp, in id order, from three hours before the hour began:
	// recent, because the records carry them as their Kafka timestamps,
	// and the broker's retention deletes segments of old ones (rows of
	// 2020 lost the topic's first segment in long runs).
	insert := func(rows int) {
		from, to := inserted+1, inserted+rows
		if kind == dbtest.Postgres {
			server.Exec(t, db, fmt.Sprintf(`INSERT INTO events SELECT i, date_trunc('hour', localtimestamp) - interval '3 hours' + (i / 100) * interval '1 second', 'v' || i
				FROM generate_series(%d, %d) i`, from, to))
		} else {
			server.Exec(t, db, fmt.Sprintf(`INSERT INTO events SELECT seq, DATE_FORMAT(NOW(), '%%Y-%%m-%%d %%H:00:00') - INTERVAL 3 HOUR + INTERVAL (seq DIV 100) SECOND,
				CONCAT('v', seq) FROM seq_%d_to_%d`, from, to))
		}
		inserted = to
	}
	if kind == dbtest.Postgres {
		server.Exec(t, db, `CREATE TABLE events (id bigint PRIMARY KEY, ts timestamp(6) NOT NULL, v text NOT NULL);
			CREATE INDEX ON events (ts)`)
	} else {
		driver = "mysql"
		server.Exec(t, db, `CREATE TABLE events (id BIGINT PRIMARY KEY, ts DATETIME(6) NOT NULL, v TEXT NOT NULL, KEY (ts))`)
	}
	insert(n)
	name, out := kafkaTestName(t, "sql"), kafkaTestName(t, "out")
	admin := newProgress(t, bootstrap)
	admin.createTopic(t, out)
	cfg := writeConfig(t, fmt.Sprintf(`
name: %q
processing_guarantee: %s
exactly_once: { transactional_id: %q, max_records: 2000 }
commit_interval: 50ms
input:
  sql_poll:
    driver: %s
    dsn: %q
    table: events
    mode: timestamp+incrementing
    timestamp_columns: [ts]
    incrementing_column: id
    batch_max_rows: 500
    poll_interval: 200ms
output:
  kafka: { brokers: [%q], topic: %q }
state: { dir: %q }
http: { enabled: false }
`, name, guarantee, name+"-txn", driver, dsn, bootstrap, out, t.TempDir()))
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 13))
	began := time.Now()
	var report []string
	late := 0
	for kill := 1; kill <= kills; kill++ {
		// A run that read the whole table has nothing left to grow the
		// output by (sql_poll reads 100k rows in a few runs): the table
		// grows whenever the output stands still.
		killOnceGrownFed(t, startPipeline(t, cfg), admin, out, int64(1000*(1+rng.IntN(3))), kill, rng, func() { insert(n / 10) })
		if at := admin.records(out); at >= int64(inserted) && guarantee == "exactly_once" {
			// Everything might have been written before the kill (a slow
			// progress check with the cores busy): the table grows and
			// the kill is tried again, so that each lands mid-stream.
			if late++; late > kills {
				t.Fatalf("%d kills came after the whole table was written (%d records out)", late, at)
			}
			insert(n / 10)
			kill--
			continue
		}
		if kill <= 3 || kill%5 == 0 {
			report = append(report, fmt.Sprintf("kill %d at %d records out", kill, admin.records(out)))
		}
	}
	n = inserted
	report = append(report, fmt.Sprintf("%d late kills tried again on a grown table", late))
	last := startPipeline(t, cfg)
	defer last.stop(t)
	want := make([]string, n)
	for i := range want {
		want[i] = strconv.Itoa(i + 1)
	}
	got := awaitCommittedKeys(t, bootstrap, out, n, last)
	took := time.Since(began)
	if guarantee == "exactly_once" {
		defer func() {
			if t.Failed() {
				dumpTransactions(t, bootstrap, out, name, last)
			}
		}()
		requireExactlyOnce(t, fmt.Sprintf("read_committed output after %d SIGKILLs", kills), got, want)
		t.Logf("%s: %d SIGKILLs (%s): read_committed output holds each of the %d rows exactly once; in %v", guarantee, kills,
			strings.Join(report, "; "), n, took.Round(time.Millisecond))
		return
	}
	if d := distinct(got); d != n {
		t.Fatalf("after %d SIGKILLs the output holds %d distinct rows of %d:\n%s", kills, d, n, lastLines(last.stderr(), 20))
	}
	t.Logf("%s: %d SIGKILLs (%s): every one of the %d rows is in the output (%d records, %d repeated); in %v", guarantee, kills,
		strings.Join(report, "; "), n, len(got), len(got)-n, took.Round(time.Millisecond))
}

// kcatKeysCommitted is every record key of topic, read_committed.
func kcatKeysCommitted(t *testing.T, bootstrap, topic string) []string {
	t.Helper()
	out := strings.TrimSuffix(kcat(t, "", "-C", "-b", bootstrap, "-t", topic, "-X", "isolation.level=read_committed", "-e", "-q", "-f", "%k\n"), "\n")
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

// TestSQLSinkServerRestartLosesNothing: the sql output's PostgreSQL
// crashes (SIGKILL) while 20000 records stream into it from Kafka: half
// are produced before the crash, half while the server is down, and it
// comes back once a write has failed: the failed writes are retried,
// nothing is committed upstream before it was written, and the table,
// read with psql, ends with every record's row and value.
func TestSQLSinkServerRestartLosesNothing(t *testing.T) {
	t.Parallel()
	const n = 20000
	bootstrap := startKafka(t)
	server := dbtest.New(t, dbtest.Postgres)
	db, dsn := server.NewDatabase(t)
	server.Exec(t, db, "CREATE TABLE items (id bigint PRIMARY KEY, v bigint NOT NULL)")
	topic := kafkaTestName(t, "items")
	admin := newProgress(t, bootstrap)
	admin.createTopic(t, topic)
	lines := make([]string, n)
	for i := range lines {
		lines[i] = fmt.Sprintf(`%d:{"v":%d}`, i+1, 3*(i+1))
	}
	kcatProduce(t, bootstrap, topic, lines[:n/2])
	cfg := writeConfig(t, fmt.Sprintf(`
name: %q
input:
  kafka: { brokers: [%q], topics: [%q], codec: json, batch_size: 200 }
output:
  sql:
    driver: postgres
    dsn: %q
    table: items
    columns: { id: int(key), v: value.v }
output_retry: { max_retries: 20, max_backoff: 1s }
commit_interval: 100ms
state: { dir: %q }
http: { enabled: false }
`, topic, bootstrap, topic, dsn, t.TempDir()))
	p := startPipeline(t, cfg)
	defer p.stop(t)
	count := func() int {
		out, err := server.TryExec(db, "SELECT count(*) FROM items")
		if err != nil {
			return -1
		}
		c, _ := strconv.Atoi(strings.TrimSpace(out))
		return c
	}
	deadline := time.Now().Add(time.Minute)
	for count() < n/4 {
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("the table did not reach %d rows:\n%s", n/4, lastLines(p.stderr(), 20))
		}
		time.Sleep(5 * time.Millisecond)
	}
	server.Kill(t)
	killedAt := time.Now()
	kcatProduce(t, bootstrap, topic, lines[n/2:])
	for !strings.Contains(p.stderr(), "output write failed; retrying") {
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("no write failed while the server was down:\n%s", lastLines(p.stderr(), 20))
		}
		time.Sleep(10 * time.Millisecond)
	}
	server.Start(t)
	t.Logf("PostgreSQL down for %v", time.Since(killedAt).Round(time.Millisecond))
	for count() < n {
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("the table has %d rows, want %d:\n%s", count(), n, lastLines(p.stderr(), 20))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if bad := server.Query(t, db, "SELECT count(*) FROM items WHERE v <> 3 * id"); bad[0][0] != "0" {
		t.Fatalf("%s rows have a wrong value", bad[0][0])
	}
}

// killOnceGrownFed waits until out holds grow more records than when it
// was called, then a random moment more, and kills p with SIGKILL. feed,
// when not nil, gives the source more to read whenever the output stood
// still for a second: a pipeline that caught up with what was there has
// nothing left to grow by.
func killOnceGrownFed(t *testing.T, p *bgPipeline, admin progress, out string, grow int64, run int, rng *rand.Rand, feed func()) {
	t.Helper()
	target := admin.records(out) + grow
	deadline := time.Now().Add(2 * time.Minute)
	last, grewAt := admin.records(out), time.Now()
	for n := last; n < target; n = admin.records(out) {
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("run %d: the output did not reach %d records:\n%s", run, target, lastLines(p.stderr(), 30))
		}
		if n > last {
			last, grewAt = n, time.Now()
		} else if feed != nil && time.Since(grewAt) > time.Second {
			feed()
			grewAt = time.Now()
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
}

// awaitCommittedKeys reads the keys of out, read_committed, until n are
// distinct, the pipeline exited or three minutes passed.
func awaitCommittedKeys(t *testing.T, bootstrap, out string, n int, last *bgPipeline) []string {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		got := kcatKeysCommitted(t, bootstrap, out)
		if distinct(got) >= n || last.exited() || time.Now().After(deadline) {
			return got
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// dumpTransactions logs what an exactly-once failure needs looked at: the
// committed positions, every position written (aborted ones too), where
// the output's first records sit read_uncommitted, and the last run's log.
func dumpTransactions(t *testing.T, bootstrap, out, pipeline string, last *bgPipeline) {
	t.Helper()
	positions := pipeline + "-positions"
	committed := kcat(t, "", "-C", "-b", bootstrap, "-t", positions, "-X", "isolation.level=read_committed", "-e", "-q", "-f", "%o %s\n")
	all := kcat(t, "", "-C", "-b", bootstrap, "-t", positions, "-e", "-q", "-f", "%o %s\n")
	head := kcat(t, "", "-C", "-b", bootstrap, "-t", out, "-e", "-q", "-c", "20", "-f", "%p/%o %k\n")
	t.Logf("positions committed:\n%s\npositions written (aborted too):\n%s\nthe output's first records, read_uncommitted:\n%s\nthe last run:\n%s",
		lastLines(committed, 15), lastLines(all, 40), head, lastLines(last.stderr(), 40))
}
