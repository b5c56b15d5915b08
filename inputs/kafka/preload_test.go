package kafka_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/enginetest"
	"github.com/pipelinehq/pipeline/inputs/kafka"
)

// preloadedInput builds a kafka group member input, preloaded, and starts it.
func preloadedInput(t *testing.T, brokers []string, group, extra string) engine.PreloadInput {
	t.Helper()
	in := enginetest.NewInput(t, kafka.Plugin(), "table",
		fmt.Sprintf("{brokers: [%q], topics: [in], consumer_group: %s%s}", strings.Join(brokers, ","), group, extra)).(engine.PreloadInput)
	in.Preload()
	start(t, in)
	return in
}

// clusterWithTopicIn is a kfake cluster with topic in of 3 partitions.
func clusterWithTopicIn(t *testing.T) []string {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "in"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	return cluster.ListenAddrs()
}

// readUntilLoaded reads until the input says it is loaded, and returns how
// many records it read.
func readUntilLoaded(t *testing.T, in engine.PreloadInput) (records int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !in.Loaded() {
		if time.Now().After(deadline) {
			t.Fatalf("not loaded after 15s, %d records read", records)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		b, err := in.Read(ctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			t.Fatal(err)
		}
		records += len(b.Records)
	}
	return records
}

func TestPreloadedInputIsLoadedOnceItReadItsPartitionsToTheirEnd(t *testing.T) {
	brokers := clusterWithTopicIn(t)
	produce(t, brokers, "in", 0, 3000, func(i int) string { return fmt.Sprint(i) })

	in := preloadedInput(t, brokers, "g1", "")
	if in.Loaded() {
		t.Fatal("loaded before it was given its partitions")
	}
	if n := readUntilLoaded(t, in); n != 3000 {
		t.Fatalf("loaded after %d records, want all 3000", n)
	}
}

func TestPreloadedInputStartsWhereStartFromSays(t *testing.T) {
	brokers := clusterWithTopicIn(t)
	produce(t, brokers, "in", 0, 300, func(i int) string { return fmt.Sprint(i) })
	// start_from latest: no record below the end is read, so none is waited for.
	if n := readUntilLoaded(t, preloadedInput(t, brokers, "g2", ", start_from: latest")); n != 0 {
		t.Fatalf("read %d records, want none", n)
	}
	// A time after every record: it starts at the end too.
	if n := readUntilLoaded(t, preloadedInput(t, brokers, "g3", ", start_from: '2100-01-01T00:00:00Z'")); n != 0 {
		t.Fatalf("read %d records, want none", n)
	}
	// A time before every record: all of them are loaded.
	if n := readUntilLoaded(t, preloadedInput(t, brokers, "g4", ", start_from: '2000-01-01T00:00:00Z'")); n != 300 {
		t.Fatalf("loaded after %d records, want all 300", n)
	}
}

// TestPreloadedMemberGivenNothingIsLoaded: of two members of a group on a
// one-partition topic, one is given nothing; both say they are loaded,
// so neither holds its pipeline's other inputs back for good.
func TestPreloadedMemberGivenNothingIsLoaded(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "in"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	brokers := cluster.ListenAddrs()
	produce(t, brokers, "in", 0, 100, func(i int) string { return fmt.Sprint(i) })
	members := []engine.PreloadInput{
		preloadedInput(t, brokers, "g5", ", instance_id: a, session_timeout: 6s"),
		preloadedInput(t, brokers, "g5", ", instance_id: b, session_timeout: 6s"),
	}
	// Both read, so that the group settles with one partition for one of them.
	deadline := time.Now().Add(20 * time.Second)
	for !members[0].Loaded() || !members[1].Loaded() {
		if time.Now().After(deadline) {
			t.Fatalf("loaded: %v %v after 20s", members[0].Loaded(), members[1].Loaded())
		}
		for _, m := range members {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			_, _ = m.Read(ctx)
			cancel()
		}
	}
}
