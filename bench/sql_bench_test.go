package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipelinehq/pipeline/internal/dbtest"
)

// The SQL benchmarks run against a private PostgreSQL (internal/dbtest)
// and the real broker: a 1M-row orders table polled to Kafka, and 1M JSON
// orders from Kafka upserted into a table, each beside a bare Go loop doing
// the same job with pgx and franz-go, timed by the same observer.

const sqlRows = kafkaRecords

var (
	sqlOnce sync.Once
	sqlSrv  *dbtest.Server
	sqlDB   string
	sqlDSN  string
)

// sqlSetup starts PostgreSQL and fills the table orders with 1M rows, once.
func sqlSetup(b *testing.B) {
	b.Helper()
	sqlOnce.Do(func() {
		sqlSrv = dbtest.Shared(b, dbtest.Postgres)
		sqlDB, sqlDSN = sqlSrv.NewDatabase(b)
		start := time.Now()
		sqlSrv.Exec(b, sqlDB, fmt.Sprintf(`CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint NOT NULL, amount numeric(10,2) NOT NULL,
			status varchar(32) NOT NULL, updated_at timestamptz NOT NULL);
			INSERT INTO orders SELECT i, 1000 + i %% 5000, (i %% 100000) / 100.0, CASE WHEN i %% 3 = 0 THEN 'PAID' ELSE 'CREATED' END,
			timestamptz '2026-01-01 00:00:00+00' + i * interval '1 millisecond' FROM generate_series(1, %d) i`, sqlRows))
		sqlSrv.Exec(b, sqlDB, "VACUUM ANALYZE orders") // VACUUM refuses to run in the transaction of a multi-statement command
		fmt.Fprintf(benchOut, "sql: PostgreSQL on port %d, orders filled with %d rows in %.1fs\n", sqlSrv.Port, sqlRows, time.Since(start).Seconds())
	})
	if sqlSrv == nil {
		b.Fatal("PostgreSQL did not start")
	}
}

// BenchmarkSQLToKafka: the 1M-row table to a 6-partition topic keyed by
// id, as JSON objects of the row: sql_poll (incrementing, 1024 rows a
// batch) → kafka against a bare loop — one pgx query streamed, each row
// scanned and appended as the same JSON, produced with the output's
// franz-go settings.
func BenchmarkSQLToKafka(b *testing.B) {
	env := kafkaSetup(b)
	sqlSetup(b)
	bare := func(seq int64) window {
		topic := env.newTopic(b, "sql-bare", seq)
		w := env.runBare(b, topic, "bare pgx → franz-go loop", func() error { return bareSQLToKafka(env.brokers, topic) })
		env.exactly(b, topic)
		env.deleteTopics(topic)
		return w
	}
	pipe := func(seq int64) window {
		topic := env.newTopic(b, "sql-pipeline", seq)
		p := startPipeline(b, fmt.Sprintf(`
input:
  sql_poll: { driver: postgres, dsn: %q, table: orders, mode: incrementing, incrementing_column: id, batch_max_rows: 1024, poll_interval: 1h }
output: {kafka: {brokers: [%q], topic: %s}}
state: {dir: %q}
http: {enabled: false}
`, sqlDSN, env.brokers, topic, b.TempDir()))
		w := env.watchTopic(b, topic, p.done)
		p.stop(b)
		env.exactly(b, topic)
		env.deleteTopics(topic)
		return w
	}
	for i := 0; i < b.N; i++ {
		roundsOf(b, kafkaRounds, "PostgreSQL table → kafka", "pipeline", "bare pgx → franz-go", bare, pipe, reportRows)
	}
}

func bareSQLToKafka(brokers, topic string) error {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, sqlDSN)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	cl, err := kgo.NewClient(append(producerOpts(brokers), kgo.DefaultProduceTopic(topic))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	var failed produceErrors
	rows, err := conn.Query(ctx, "SELECT id, user_id, amount::text, status, updated_at FROM orders ORDER BY id ASC")
	if err != nil {
		return err
	}
	var id, user int64
	var amount, status string
	var at time.Time
	for rows.Next() {
		if err := rows.Scan(&id, &user, &amount, &status, &at); err != nil {
			return err
		}
		v := make([]byte, 0, 128)
		v = append(v, `{"amount":`...)
		v = strconv.AppendQuote(v, amount)
		v = append(v, `,"id":`...)
		v = strconv.AppendInt(v, id, 10)
		v = append(v, `,"status":`...)
		v = strconv.AppendQuote(v, status)
		v = append(v, `,"updated_at":"`...)
		v = at.UTC().AppendFormat(v, time.RFC3339Nano)
		v = append(v, `","user_id":`...)
		v = strconv.AppendInt(v, user, 10)
		v = append(v, '}')
		cl.Produce(ctx, &kgo.Record{Key: strconv.AppendInt(nil, id, 10), Value: v}, failed.record)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	return failed.err()
}

var (
	sqlTopicOnce sync.Once
	sqlTopic     = "bench-orders-json"
)

// sqlOrdersTopic fills a topic with the table's 1M rows as JSON, keyed by
// id, once: the input of the upsert benchmark.
func sqlOrdersTopic(b *testing.B, env *kafkaEnv) {
	sqlTopicOnce.Do(func() {
		if err := env.createTopic(sqlTopic); err != nil {
			b.Fatal(err)
		}
		if err := bareSQLToKafka(env.brokers, sqlTopic); err != nil {
			b.Fatal(err)
		}
	})
	env.exactly(b, sqlTopic)
}

// BenchmarkKafkaToPostgres: the 1M JSON orders upserted into a fresh
// table: kafka → sql (upsert) against a bare loop — franz-go polls, each
// poll's records queued in one pgx.Batch of INSERT … ON CONFLICT DO UPDATE
// in a transaction, then the offsets committed. Both are timed by an
// observer counting the table's rows.
func BenchmarkKafkaToPostgres(b *testing.B) {
	env := kafkaSetup(b)
	sqlSetup(b)
	sqlOrdersTopic(b, env)
	newTable := func(seq int64) string {
		table := fmt.Sprintf("upserted_%d", seq)
		sqlSrv.Exec(b, sqlDB, "CREATE TABLE "+table+` (id bigint PRIMARY KEY, user_id bigint NOT NULL, amount numeric(10,2) NOT NULL,
			status varchar(32) NOT NULL, updated_at timestamptz NOT NULL)`)
		return table
	}
	watch := func(table string, stop <-chan struct{}) window {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, sqlDSN)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close(ctx)
		w, err := observe(func() (int64, error) {
			var n int64
			err := conn.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n)
			return n, err
		}, sqlRows, 100*time.Millisecond, stop, 10*time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		return w
	}
	bare := func(seq int64) window {
		table := newTable(seq)
		done := make(chan struct{})
		var err error
		go func() {
			defer close(done)
			err = bareKafkaToPostgres(env.brokers, fmt.Sprintf("sql-bare-%d", seq), table)
		}()
		w := watch(table, done)
		<-done
		if err != nil {
			b.Fatal(err)
		}
		sqlSrv.Exec(b, sqlDB, "DROP TABLE "+table)
		return w
	}
	pipe := func(seq int64) window {
		table := newTable(seq)
		p := startPipeline(b, fmt.Sprintf(`
input: {kafka: {brokers: [%q], topics: [%s], consumer_group: sql-pipeline-%d, codec: json, batch_size: 1024}}
output:
  sql: { driver: postgres, dsn: %q, table: %s, mode: upsert }
http: {enabled: false}
`, env.brokers, sqlTopic, seq, sqlDSN, table))
		w := watch(table, p.done)
		p.stop(b)
		sqlSrv.Exec(b, sqlDB, "DROP TABLE "+table)
		return w
	}
	for i := 0; i < b.N; i++ {
		roundsOf(b, kafkaRounds, "kafka → PostgreSQL upsert", "pipeline", "bare franz-go → pgx.Batch", bare, pipe, reportRows)
	}
}

func bareKafkaToPostgres(brokers, group, table string) error {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, sqlDSN)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.ConsumerGroup(group), kgo.ConsumeTopics(sqlTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	if err != nil {
		return err
	}
	defer cl.Close()
	upsert := "INSERT INTO " + table + ` (id, user_id, amount, status, updated_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (id) DO UPDATE SET user_id = EXCLUDED.user_id, amount = EXCLUDED.amount, status = EXCLUDED.status, updated_at = EXCLUDED.updated_at`
	type order struct {
		ID        int64     `json:"id"`
		UserID    int64     `json:"user_id"`
		Amount    string    `json:"amount"`
		Status    string    `json:"status"`
		UpdatedAt time.Time `json:"updated_at"`
	}
	var n int
	for n < sqlRows {
		fs := cl.PollRecords(ctx, 1024)
		if err := fs.Err0(); err != nil {
			return err
		}
		var batch pgx.Batch
		for _, r := range fs.Records() {
			var o order
			if err := json.Unmarshal(r.Value, &o); err != nil {
				return err
			}
			batch.Queue(upsert, o.ID, o.UserID, o.Amount, o.Status, o.UpdatedAt)
		}
		tx, err := conn.Begin(ctx)
		if err != nil {
			return err
		}
		if err := tx.SendBatch(ctx, &batch).Close(); err != nil {
			tx.Rollback(ctx)
			return err
		}
		if err := tx.Commit(ctx); err != nil {
			return err
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			return err
		}
		n += len(fs.Records())
	}
	return nil
}
