package e2e

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// checkOrdersEnrichExample runs pipelines/orders-enrich.yaml against the
// real broker and the development broker: orders joined with a compacted
// customers topic, produced and read back with kcat, compared with the
// join computed here from what was produced.
func checkOrdersEnrichExample(t *testing.T, file string) {
	forEachKafka(t, func(t *testing.T, bootstrap string) { checkOrdersEnrich(t, file, bootstrap) })
}

func checkOrdersEnrich(t *testing.T, file, bootstrap string) {
	orders, customers, out := kafkaTestName(t, "orders"), kafkaTestName(t, "customers"), kafkaTestName(t, "enriched")
	state := t.TempDir()
	start := func() *bgPipeline {
		return startPipelineArgs(t, []string{"KAFKA_BROKERS=" + bootstrap}, "run", "-c", file,
			"-s", "input.kafka.topics.0="+orders,
			"-s", "pipeline.processors.0.join.table.kafka.topics.0="+customers,
			"-s", "output.kafka.topic="+out,
			"-s", "state.dir="+state, "-s", "commit_interval=200ms")
	}

	// The customers as the test produces them, and as the table must end
	// up: the last row of each key, none after a tombstone.
	table := map[string]any{}
	produceCustomers := func(lines ...string) {
		t.Helper()
		for _, l := range lines {
			id, row, _ := strings.Cut(l, ":")
			if row == "" {
				delete(table, id)
				continue
			}
			var v any
			if err := json.Unmarshal([]byte(row), &v); err != nil {
				t.Fatal(err)
			}
			table[id] = v
		}
		// -Z: an empty value is produced as NULL, a tombstone.
		kcat(t, strings.Join(lines, "\n")+"\n", "-P", "-b", bootstrap, "-t", customers, "-K:", "-Z")
	}

	// A first run creates the topics, and loads and follows a first table,
	// which stays in the state directory.
	p := start()
	deadline := time.Now().Add(60 * time.Second)
	for {
		meta := kcat(t, "", "-L", "-b", bootstrap)
		if strings.Contains(meta, `topic "`+orders+`" with 3 partitions`) && strings.Contains(meta, `topic "`+customers+`" with 3 partitions`) {
			break
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("the pipeline did not create %s and %s:\n%s", orders, customers, p.stderr())
		}
		time.Sleep(200 * time.Millisecond)
	}
	var first []string
	for i := 1; i <= 30; i++ {
		first = append(first, fmt.Sprintf(`c%d:{"name":"customer %d","tier":"silver"}`, i, i))
	}
	produceCustomers(first...)
	time.Sleep(time.Second) // followed and committed, every 200ms
	p.stop(t)

	// While it is stopped: customers change, some are deleted, one is new,
	// and orders arrive, for known customers, deleted ones and unknown ones.
	produceCustomers(
		`c2:`, `c3:{"name":"customer 3","tier":"gold"}`, `c5:`, `c31:{"name":"customer 31","tier":"new"}`,
		`c3:{"name":"customer 3","tier":"platinum"}`, `c7:`, `c7:{"name":"customer 7, back","tier":"bronze"}`)
	const n = 200
	var lines []string
	sent := map[string]map[string]any{} // order key → its value
	for i := range n {
		key := fmt.Sprintf("o%d", i)
		value := map[string]any{"id": float64(i), "customer_id": fmt.Sprintf("c%d", i%40), "total": float64(i%17) + 0.5}
		raw, _ := json.Marshal(value)
		lines = append(lines, key+":"+string(raw))
		sent[key] = value
	}
	kcatProduce(t, bootstrap, orders, lines)

	// The second run loads the table again, in full, before it joins the
	// first order: every order sees the table as it stands now.
	p = start()
	got := awaitTopics(t, p, bootstrap, "%k\t%s\n", map[string]int{out: n})[out]
	if len(got) != n {
		t.Fatalf("%s holds %d records, want %d", out, len(got), n)
	}
	matched := 0
	seen := map[string]bool{}
	for _, l := range got {
		key, value, _ := strings.Cut(l, "\t")
		var result struct {
			Order    map[string]any `json:"order"`
			Customer any            `json:"customer"`
		}
		if err := json.Unmarshal([]byte(value), &result); err != nil {
			t.Fatalf("%s: %q: %v", out, l, err)
		}
		order, ok := sent[key]
		if !ok || seen[key] {
			t.Fatalf("%s: unexpected or repeated record %q", out, l)
		}
		seen[key] = true
		want := table[order["customer_id"].(string)]
		if !reflect.DeepEqual(result.Order, order) || !reflect.DeepEqual(result.Customer, want) {
			t.Errorf("%s: %s is %s, want order %v with customer %v", out, key, value, order, want)
		}
		if want != nil {
			matched++
		}
	}
	if matched == 0 || matched == n {
		t.Errorf("%d of %d orders found their customer: the test wants both kinds", matched, n)
	}

	// The running pipeline follows the table: an order after a change
	// sees it, once the change was read.
	before := table["c1"]
	produceCustomers(`c1:{"name":"customer 1","tier":"diamond"}`)
	for i := 0; ; i++ {
		key := fmt.Sprintf("f%d", i)
		kcatProduce(t, bootstrap, orders, []string{key + `:{"id":-1,"customer_id":"c1"}`})
		var customer any
		found := false
		for wait := time.Now().Add(30 * time.Second); !found; time.Sleep(100 * time.Millisecond) {
			all, err := kcatRead(bootstrap, out, "%k\t%s\n")
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range all {
				if k, v, _ := strings.Cut(l, "\t"); k == key {
					var result struct{ Customer any }
					if err := json.Unmarshal([]byte(v), &result); err != nil {
						t.Fatal(err)
					}
					customer, found = result.Customer, true
				}
			}
			if !found && time.Now().After(wait) {
				t.Fatalf("no result for order %s:\n%s", key, p.stderr())
			}
		}
		if reflect.DeepEqual(customer, table["c1"]) {
			break
		}
		if !reflect.DeepEqual(customer, before) || i == 50 {
			t.Fatalf("order %s joined customer %v, want %v (or %v until the change is read)", key, customer, table["c1"], before)
		}
	}
	p.stop(t)
}
