package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTableJoinLoadsTheTableFirst (issue 12, item 3): a stream–table
// table_join of two Kafka topics written before the pipeline starts, the
// table in transactions (so that its partitions end with a transaction
// marker): every order is joined with its customer, none with a table
// still loading, at-least-once and exactly-once, on both brokers. Without
// the table loaded first, orders read while their customer's partition is
// still loading find no row.
func TestTableJoinLoadsTheTableFirst(t *testing.T) {
	t.Parallel()
	for _, guarantee := range []string{"at_least_once", "exactly_once"} {
		t.Run(guarantee, func(t *testing.T) {
			t.Parallel()
			forEachKafka(t, func(t *testing.T, bootstrap string) { testTableJoinLoadsFirst(t, bootstrap, guarantee) })
		})
	}
}

func testTableJoinLoadsFirst(t *testing.T, bootstrap, guarantee string) {
	const customers, orders = 20000, 20000
	watch := newProgress(t, bootstrap)
	customersTopic, ordersTopic, out := kafkaTestName(t, "customers"), kafkaTestName(t, "orders"), kafkaTestName(t, "out")
	for _, topic := range []string{customersTopic, ordersTopic, out} {
		watch.createTopic(t, topic)
	}
	var rows, stream [][2]string
	for i := range customers {
		rows = append(rows, [2]string{fmt.Sprintf("c%d", i), fmt.Sprintf(`{"name":"customer %d"}`, i)})
	}
	for i := range orders {
		c := (i * 7919) % customers
		stream = append(stream, [2]string{fmt.Sprintf("c%d", c), fmt.Sprintf(`{"id":%d,"customer":%d}`, i, c)})
	}
	// One producer for both topics: one partitioner, so co-partitioned.
	produceKeyed(t, bootstrap, customersTopic, rows, 7)
	produceKeyed(t, bootstrap, ordersTopic, stream, 0)

	cfg := writeConfig(t, fmt.Sprintf(`name: %s
inputs:
  orders: { kafka: { brokers: [%[2]q], topics: [%[3]q], consumer_group: %[1]s, codec: json, batch_size: 200 } }
  customers: { kafka: { brokers: [%[2]q], topics: [%[4]q], consumer_group: %[1]s, codec: json, batch_size: 200 } }
pipeline:
  processors:
    - table_join:
        left: { input: orders }
        right: { input: customers }
        type: left
        value: '{"order": left.id, "name": right?.name}'
output:
  kafka: { brokers: [%[2]q], topic: %[5]q }
processing_guarantee: %[6]s
state: { dir: %[7]q }
http: { enabled: false }
`, kafkaTestName(t, "tj"), bootstrap, ordersTopic, customersTopic, out, guarantee, t.TempDir()))
	p := startPipeline(t, cfg)
	var got []string
	deadline := time.Now().Add(2 * time.Minute)
	for got = kcatLinesCommitted(t, bootstrap, out); len(got) < orders; got = kcatLinesCommitted(t, bootstrap, out) {
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("%d of %d results after 2 minutes:\n%s", len(got), orders, lastLines(p.stderr(), 30))
		}
		time.Sleep(500 * time.Millisecond)
	}
	p.stop(t)
	got = kcatLinesCommitted(t, bootstrap, out)
	seen := map[string]bool{}
	var unjoined []string
	for _, line := range got {
		key, value, _ := strings.Cut(line, " ")
		var order, customer int
		if _, err := fmt.Sscanf(value, `{"name":"customer %d","order":%d}`, &customer, &order); err != nil || key != fmt.Sprintf("c%d", customer) {
			unjoined = append(unjoined, line)
			continue
		}
		if want := (order * 7919) % customers; want != customer {
			t.Fatalf("order %d joined with customer %d, want %d", order, customer, want)
		}
		seen[value] = true
	}
	if len(unjoined) > 0 {
		t.Fatalf("%d of %d results did not find their customer (the table was not loaded first), e.g. %q", len(unjoined), len(got), firstN(unjoined, 3))
	}
	if len(seen) != orders || (guarantee == "exactly_once" && len(got) != orders) {
		t.Fatalf("%d results, %d distinct orders, want %d", len(got), len(seen), orders)
	}
	t.Logf("%s: %d orders each joined with its customer (%d results), the table of %d rows loaded first", guarantee, orders, len(got), customers)
}

// produceKeyed writes key/value records to topic with franz-go's default
// (murmur2) partitioner; with transactions > 0, in that many transactions.
func produceKeyed(t *testing.T, bootstrap, topic string, recs [][2]string, transactions int) {
	t.Helper()
	opts := []kgo.Opt{kgo.SeedBrokers(bootstrap), kgo.DefaultProduceTopic(topic)}
	if transactions > 0 {
		opts = append(opts, kgo.TransactionalID(topic+"-producer"))
	}
	client, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	per := len(recs)
	if transactions > 0 {
		per = (len(recs) + transactions - 1) / transactions
	}
	for from := 0; from < len(recs); from += per {
		if transactions > 0 {
			if err := client.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
		}
		batch := make([]*kgo.Record, 0, per)
		for _, r := range recs[from:min(from+per, len(recs))] {
			batch = append(batch, &kgo.Record{Key: []byte(r[0]), Value: []byte(r[1])})
		}
		if err := client.ProduceSync(ctx, batch...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if transactions > 0 {
			if err := client.EndTransaction(ctx, kgo.TryCommit); err != nil {
				t.Fatal(err)
			}
		}
	}
}
