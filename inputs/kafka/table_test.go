package kafka_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/enginetest"
	"github.com/pipelinehq/pipeline/inputs/kafka"
)

// tableInput builds a kafka input read as a table and starts it.
func tableInput(t *testing.T, brokers []string, topics string) engine.TableInput {
	t.Helper()
	in := enginetest.NewInput(t, kafka.Plugin(), "table", fmt.Sprintf("{brokers: [%q], topics: [%s]}", strings.Join(brokers, ","), topics)).(engine.TableInput)
	if err := in.ReadAsTable(); err != nil {
		t.Fatal(err)
	}
	start(t, in)
	return in
}

// start starts an input, to be closed when the test ends.
func start(t *testing.T, in engine.Input) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := in.(engine.Starter).Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(context.Background()) })
}

// readTable reads until the input is caught up and has returned at least
// min records, and returns "key=value" of each.
func readTable(t *testing.T, in engine.TableInput, min int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []string
	for !in.CaughtUp() || len(got) < min {
		b, err := in.Read(ctx)
		if err != nil {
			t.Fatalf("read: %v (caught up: %v, read %v)", err, in.CaughtUp(), got)
		}
		for _, r := range b.Records {
			v, _ := r.Value()
			got = append(got, fmt.Sprintf("%s=%v", r.Key, v))
		}
	}
	return got
}

// TestTableIsCaughtUpOnAnEmptyTopic: a table of empty topics is caught up
// as soon as it started.
func TestTableIsCaughtUpOnAnEmptyTopic(t *testing.T) {
	cluster := kfake.MustCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "empty"))
	defer cluster.Close()
	if in := tableInput(t, cluster.ListenAddrs(), "empty"); !in.CaughtUp() {
		t.Error("a table of an empty topic is not caught up after Start")
	}
}

// TestTableReadsEveryPartitionToItsEnd: read as a table, the input reads
// every partition of every topic from the start, outside any group (two
// tables read the same records), is caught up only once it returned every
// record that was there at start (the last ones behind a transaction's
// marker, an aborted one's records never), and then goes on following.
func TestTableReadsEveryPartitionToItsEnd(t *testing.T) {
	cluster := kfake.MustCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "a", "b"))
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	c := mustClient(t, brokers)
	ctx := context.Background()
	var want []string
	var recs []*kgo.Record
	for i := range 300 {
		topic := []string{"a", "b"}[i%2]
		recs = append(recs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i)})
		want = append(want, fmt.Sprintf("k%d=v%d", i, i))
	}
	if err := c.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for _, commit := range []bool{true, false} {
		txn, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.TransactionalID(fmt.Sprint("t-", commit)))
		if err != nil {
			t.Fatal(err)
		}
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := txn.ProduceSync(ctx, &kgo.Record{Topic: "a", Key: []byte("txn"), Value: fmt.Appendf(nil, "%t", commit)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := txn.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
		txn.Close()
	}
	want = append(want, "txn=true")
	slices.Sort(want)

	for i := range 2 {
		in := tableInput(t, brokers, "a, b")
		if in.CaughtUp() {
			t.Fatalf("table %d is caught up before it read anything", i)
		}
		got := readTable(t, in, 0)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("table %d read %d records %v…, want %d %v…", i, len(got), got[:min(5, len(got))], len(want), want[:5])
		}
		later := fmt.Sprintf("later%d", i)
		if err := c.ProduceSync(ctx, &kgo.Record{Topic: "b", Key: []byte(later), Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if got := readTable(t, in, 1); len(got) != 1 || got[0] != later+"=x" {
			t.Errorf("table %d then read %v, want %s=x", i, got, later)
		}
		want = append(want, later+"=x")
		slices.Sort(want)
	}
}

func TestTableNeedsTopicNames(t *testing.T) {
	in := enginetest.NewInput(t, kafka.Plugin(), "table", `{brokers: [b], topics: ["a.*"], topics_regex: true}`).(engine.TableInput)
	if err := in.ReadAsTable(); err == nil || !strings.Contains(err.Error(), "topics_regex") {
		t.Errorf("ReadAsTable with topics_regex: %v", err)
	}
}
