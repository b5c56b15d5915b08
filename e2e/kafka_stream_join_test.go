package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestKafkaStreamJoin: stream_join of two kafka inputs on the real broker
// and the development broker. Orders and payments, keyed by order, each
// topic in three partitions (created by the pipeline) and produced with
// kcat's partitioner, so partition N of one holds the same keys as
// partition N of the other: each order joins the payments made within 5 s
// of it, and, once stream time passed its window (a far-future record
// produced into each partition of orders), an order without one is written
// with right null (a left join). The results, read back with kcat, are
// exactly those computed here.
func TestKafkaStreamJoin(t *testing.T) {
	forEachKafka(t, testKafkaStreamJoin)
}

func streamJoinConfig(bootstrap, orders, payments, out string, paymentPartitions int) string {
	return fmt.Sprintf(`name: stream-join
inputs:
  orders:
    kafka:
      brokers: [%q]
      topics: [%s]
      codec: json
      create_topic: { enabled: true, partitions: 3 }
  payments:
    kafka:
      brokers: [%q]
      topics: [%s]
      codec: json
      create_topic: { enabled: true, partitions: %d }
pipeline:
  processors:
    - map: { timestamp: value.ts }
    - stream_join:
        left: { input: orders }
        right: { input: payments }
        type: left
        # An hour of grace: whichever input is read first, nothing is
        # dropped from the buffers while the test produces.
        window: { within: 5s, grace: 1h }
output:
  kafka: { brokers: [%q], topic: %s, create_topic: { enabled: true, partitions: 3 } }
commit_interval: 200ms
http: { enabled: false }
`, bootstrap, orders, bootstrap, payments, paymentPartitions, bootstrap, out)
}

func testKafkaStreamJoin(t *testing.T, bootstrap string) {
	orders, payments, out := kafkaTestName(t, "orders"), kafkaTestName(t, "payments"), kafkaTestName(t, "joined")
	cfg := writeConfig(t, streamJoinConfig(bootstrap, orders, payments, out, 3)+fmt.Sprintf("state: { dir: %q }\n", t.TempDir()))
	p := startPipeline(t, cfg)
	awaitTopicsCreated(t, p, bootstrap, orders, payments)

	const n = 90
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	var orderLines, paymentLines []string
	want := map[string]bool{} // "key left right" of every result, as JSON texts
	var matched []string
	for i := range n {
		key := fmt.Sprintf("o%d", i)
		ts := base + int64(i)*1000
		order := fmt.Sprintf(`{"id":%d,"ts":%d}`, i, ts)
		orderLines = append(orderLines, key+":"+order)
		found := false
		pay := func(delta int64, paid bool) {
			payment := fmt.Sprintf(`{"order":%d,"ts":%d,"amount":%d}`, i, ts+delta, i*10)
			paymentLines = append(paymentLines, key+":"+payment)
			if paid {
				found = true
				want[key+" "+canonicalJSON(t, order)+" "+canonicalJSON(t, payment)] = true
				matched = append(matched, key)
			}
		}
		switch i % 4 {
		case 0: // no payment
		case 1:
			pay(2000, true)
		case 2:
			pay(-5000, true) // exactly at the window's bound: joined
			pay(20000, false)
		case 3:
			pay(5001, false) // just past it
		}
		if !found {
			want[key+" "+canonicalJSON(t, order)+" null"] = true
		}
	}
	kcatProduce(t, bootstrap, orders, orderLines)
	kcatProduce(t, bootstrap, payments, paymentLines)
	// The matches come as soon as both sides are read.
	awaitTopics(t, p, bootstrap, "%k\n", map[string]int{out: len(matched)})
	// Then stream time jumps in every partition, and closes every window.
	for part := range 3 {
		kcat(t, fmt.Sprintf(`close-%d:{"ts":%d}`+"\n", part, base+3*3600_000), "-P", "-b", bootstrap, "-t", orders, "-K:", "-p", fmt.Sprint(part))
	}
	got := awaitTopics(t, p, bootstrap, "%k\t%s\n", map[string]int{out: len(want)})[out]
	p.stop(t)
	var gotKeys []string
	for _, line := range got {
		key, value, _ := strings.Cut(line, "\t")
		var result struct{ Left, Right json.RawMessage }
		if err := json.Unmarshal([]byte(value), &result); err != nil {
			t.Fatalf("%s: %q: %v", out, line, err)
		}
		id := key + " " + canonicalJSON(t, string(result.Left)) + " " + canonicalJSON(t, string(result.Right))
		if !want[id] {
			t.Errorf("%s: unexpected result %s", out, id)
		}
		gotKeys = append(gotKeys, id)
	}
	if len(got) != len(want) || len(slices.Compact(slices.Sorted(slices.Values(gotKeys)))) != len(want) {
		t.Errorf("%s holds %d results, %d of them distinct; want the %d computed", out, len(got), len(slices.Compact(slices.Sorted(slices.Values(gotKeys)))), len(want))
	}
}

// TestKafkaStreamJoinRefusesTopicsNotCoPartitioned: a join of a topic of
// three partitions with one of four would pair partition N of each though
// their keys are spread differently; the pipeline refuses to start, naming
// both topics.
func TestKafkaStreamJoinRefusesTopicsNotCoPartitioned(t *testing.T) {
	forEachKafka(t, func(t *testing.T, bootstrap string) {
		orders, payments, out := kafkaTestName(t, "orders"), kafkaTestName(t, "payments"), kafkaTestName(t, "joined")
		cfg := writeConfig(t, streamJoinConfig(bootstrap, orders, payments, out, 4)+fmt.Sprintf("state: { dir: %q }\n", t.TempDir()))
		_, stderr, code := runPipeline(t, nil, "run", "-c", cfg)
		if code != 1 {
			t.Fatalf("exit %d, want 1\n%s", code, stderr)
		}
		for _, want := range []string{"topic " + orders + " (inputs.orders) has 3 partitions", "topic " + payments + " (inputs.payments) has 4", "co-partitioned"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("the error does not say %q:\n%s", want, stderr)
			}
		}
	})
}

// canonicalJSON is a JSON text with its objects' keys in order.
func canonicalJSON(t *testing.T, text string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		t.Fatalf("%q: %v", text, err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// awaitTopicsCreated waits until the pipeline created the topics.
func awaitTopicsCreated(t *testing.T, p *bgPipeline, bootstrap string, topics ...string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		meta := kcat(t, "", "-L", "-b", bootstrap)
		missing := false
		for _, topic := range topics {
			missing = missing || !strings.Contains(meta, `topic "`+topic+`" with`)
		}
		if !missing {
			return
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("the pipeline did not create %v:\n%s", topics, p.stderr())
		}
		time.Sleep(200 * time.Millisecond)
	}
}
