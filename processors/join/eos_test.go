package join_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipelinehq/pipeline/engine"
	kafkaout "github.com/pipelinehq/pipeline/outputs/kafka"
)

// TestExactlyOnceKeepsTheTableOutOfTransactions: under exactly-once the
// join works as under at least once, and its table gets no changelog
// topic: it is rebuilt from its own topic at each start, and none of its
// rows is written into the transactions.
func TestExactlyOnceKeepsTheTableOutOfTransactions(t *testing.T) {
	brokers := newCluster(t)
	put(t, brokers, row{"c1", `{"name":"Ada"}`}, row{"c2", `{"name":"Grace"}`})
	adm := kadm.NewClient(newClient(t, brokers))
	ctx := context.Background()
	if _, err := adm.CreateTopics(ctx, 1, 1, nil, "orders", "enriched"); err != nil {
		t.Fatal(err)
	}
	h := harness()
	h.Extra = append(h.Extra, func(r *engine.Registry) { r.AddOutput(kafkaout.Plugin()) })
	b := strings.Join(brokers, ",")
	p, _ := build(t, h, fmt.Sprintf(`name: eos-join
processing_guarantee: exactly_once
input: { kafka: { brokers: [%q], topics: [orders], codec: json } }
output: { kafka: { brokers: [%q], topic: enriched } }
state: { dir: %q }
pipeline:
  processors:
    - join:
        table: { kafka: { brokers: [%q], topics: [customers], codec: json } }
        key: value.c
        value: 'value.id + ":" + table.name'
`, b, b, t.TempDir(), b))
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()

	producer := newClient(t, brokers)
	var recs []*kgo.Record
	for i, c := range []string{"c1", "c2", "c9", "c2"} {
		recs = append(recs, &kgo.Record{Topic: "orders", Value: fmt.Appendf(nil, `{"id":"o%d","c":%q}`, i, c)})
	}
	if err := producer.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	consumer := newClient(t, brokers, kgo.ConsumeTopics("enriched"), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	var got []string
	for deadline := time.Now().Add(20 * time.Second); len(got) < 3; {
		pollCtx, stop := context.WithTimeout(ctx, 500*time.Millisecond)
		consumer.PollFetches(pollCtx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		stop()
		if time.Now().After(deadline) {
			t.Fatalf("enriched: %v", got)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if want := []string{"o0:Ada", "o1:Grace", "o3:Grace"}; !slices.Equal(got, want) {
		t.Errorf("enriched: %v, want %v", got, want)
	}
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range topics.Names() {
		if strings.HasSuffix(name, "-changelog") {
			t.Errorf("the join's table has a changelog topic: %s", name)
		}
	}
}
