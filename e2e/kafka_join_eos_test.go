package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOrdersEnrichExactlyOnceSIGKILL (issue 12, item 5): the orders-enrich
// example under exactly_once on the real broker, killed with SIGKILL ten
// times at random moments, every third time with its state directory
// removed (so the table is loaded into a new one), then run to the end: its
// read_committed output equals an uninterrupted run's over the same orders
// and customers, record for record, each order exactly once.
func TestOrdersEnrichExactlyOnceSIGKILL(t *testing.T) {
	t.Parallel()
	bootstrap := startKafka(t)
	const orders, kills = 30000, 10
	watch := newProgress(t, bootstrap)
	ordersTopic, customersTopic := kafkaTestName(t, "orders"), kafkaTestName(t, "customers")
	watch.createTopic(t, ordersTopic)
	watch.createTopic(t, customersTopic)

	var customers []string
	for i := range 45 {
		switch {
		case i%9 == 4:
			customers = append(customers, fmt.Sprintf("c%d:", i)) // created, then deleted below
			customers = append([]string{fmt.Sprintf(`c%d:{"name":"gone %d"}`, i, i)}, customers...)
		case i%7 == 6: // never created: unknown
		default:
			customers = append(customers, fmt.Sprintf(`c%d:{"name":"customer %d","tier":%d}`, i, i, i%3))
		}
	}
	kcat(t, strings.Join(customers, "\n")+"\n", "-P", "-b", bootstrap, "-t", customersTopic, "-K:", "-Z")
	lines := make([]string, 0, orders)
	for i := range orders {
		lines = append(lines, fmt.Sprintf(`o%d:{"id":%d,"customer_id":"c%d","total":%d.25}`, i, i, i%50, i%97))
	}
	kcatProduce(t, bootstrap, ordersTopic, lines)

	type run struct{ name, group, out, state string }
	newRun := func(role string) run {
		r := run{name: kafkaTestName(t, role), group: kafkaTestName(t, role+"-group"), out: kafkaTestName(t, role+"-out"), state: t.TempDir()}
		watch.createTopic(t, r.out)
		return r
	}
	start := func(r run) *bgPipeline {
		return startPipelineArgs(t, []string{"KAFKA_BROKERS=" + bootstrap}, "run", "-c", filepath.Join("pipelines", "orders-enrich.yaml"),
			"-s", "name="+r.name, "-s", "processing_guarantee=exactly_once", "-s", "exactly_once.max_records=300",
			"-s", "input.kafka.topics.0="+ordersTopic, "-s", "input.kafka.consumer_group="+r.group, "-s", "input.kafka.batch_size=100",
			"-s", "pipeline.processors.0.join.table.kafka.topics.0="+customersTopic,
			"-s", "output.kafka.topic="+r.out, "-s", "state.dir="+r.state)
	}

	killed := newRun("killed")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 12))
	began := time.Now()
	var midStream, wiped int
	for kill := 1; kill <= kills; kill++ {
		if kill%3 == 0 {
			if err := os.RemoveAll(killed.state); err != nil {
				t.Fatal(err)
			}
			wiped++
		}
		before := watch.committed(t, killed.group)
		p := start(killed)
		awaitCommitted(t, watch, p, killed.group, min(before+int64(100+rng.IntN(500)), orders-1))
		time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
		if err := p.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-p.done
		if watch.committed(t, killed.group) < orders {
			midStream++
		}
	}
	last := start(killed)
	awaitCommitted(t, watch, last, killed.group, orders)
	last.stop(t)
	killedTook := time.Since(began)

	reference := newRun("reference")
	ref := start(reference)
	awaitCommitted(t, watch, ref, reference.group, orders)
	ref.stop(t)

	want := kcatReadCommitted(t, bootstrap, reference.out)
	if len(want) != orders {
		t.Fatalf("the uninterrupted run wrote %d results, want one per order: %d", len(want), orders)
	}
	joined := 0
	for _, l := range want {
		var r struct{ Customer any }
		if _, v, ok := strings.Cut(l, " "); ok && json.Unmarshal([]byte(v), &r) == nil && r.Customer != nil {
			joined++
		}
	}
	if joined == 0 || joined == orders {
		t.Fatalf("%d of %d orders found their customer: the test wants both kinds", joined, orders)
	}
	got := kcatReadCommitted(t, bootstrap, killed.out)
	requireLines(t, fmt.Sprintf("output after %d SIGKILLs", kills), got, want)
	if midStream < kills {
		t.Fatalf("only %d of %d kills came before every order was committed", midStream, kills)
	}
	t.Logf("%d kills (%d mid-stream, %d with the state directory removed) in %v: read_committed output equals the uninterrupted run's, %d results, %d with a customer",
		kills, midStream, wiped, killedTook.Round(time.Millisecond), len(want), joined)
}
