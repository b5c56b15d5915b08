package kafka_test

// Readiness (engine.ReadinessReporter) against kfake, at least once and
// exactly once (through the session): not ready while the group's join is
// held back, or while fetches fail because the topic was deleted, each with
// its reason; ready once the join completes or fetches work again.

import (
	"fmt"
	"os"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// guarantees are one pipeline per guarantee, reading topic in as group g,
// named n.
var guarantees = []struct {
	name   string
	config func(brokers []string, out string) string
}{
	{"at-least-once", func(brokers []string, out string) string { return config(brokers, "g", out, "") }},
	{"exactly-once", func(brokers []string, _ string) string {
		return fmt.Sprintf(`
name: n
processing_guarantee: exactly_once
exactly_once: {transactional_id: n-0}
input: {kafka: {brokers: [%[1]q], topics: [in], consumer_group: g}}
output: {kafka: {brokers: [%[1]q], topic: out}}
`, brokers[0])
	}},
}

// awaitReadiness polls r's readiness until want says it is what it waits
// for, and returns the last reason (nil when ready).
func awaitReadiness(t *testing.T, r *running, within time.Duration, what string, want func(error) bool) error {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := r.p.Ready()
		if want(err) {
			return err
		}
		select {
		case <-r.ended:
			t.Fatalf("the pipeline ended (%v) while waiting until %s; readiness: %v", r.err, what, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("not %s within %v; readiness: %v", what, within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ready(err error) bool { return err == nil }

func reasonIs(pattern string) func(error) bool {
	re := regexp.MustCompile(pattern)
	return func(err error) bool { return err != nil && re.MatchString(err.Error()) }
}

func TestNotReadyUntilTheGroupAssigns(t *testing.T) {
	for _, g := range guarantees {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			cluster := kfake.MustCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "in", "out"))
			t.Cleanup(cluster.Close) // after the pipelines' cleanups: they stop first
			release := make(chan struct{})
			var releaseOnce sync.Once
			releaseJoin := func() { releaseOnce.Do(func() { close(release) }) }
			cluster.ControlKey(int16(kmsg.JoinGroup), func(kmsg.Request) (kmsg.Response, error, bool) {
				cluster.SleepControl(func() { <-release })
				return nil, nil, false // then handled as usual
			})
			r := runInBackground(t, g.config(cluster.ListenAddrs(), os.DevNull))
			t.Cleanup(releaseJoin) // before the pipeline stops: a held join holds its stop
			joining := `^input: joining consumer group "g" as instance "[^"]+" for \d+s: no partitions assigned yet$`
			awaitReadiness(t, r, 10*time.Second, "joining", reasonIs(joining))
			time.Sleep(time.Second)
			err := awaitReadiness(t, r, 0, "still joining", reasonIs(joining))
			t.Logf("while the join is held: %v", err)

			releaseJoin()
			awaitReadiness(t, r, 10*time.Second, "ready once the group assigned", ready)
		})
	}
}

// TestNotReadyWhileFetchesFail: fetches answered UNKNOWN_TOPIC_ID (as by a
// broker that lost its topics) make the input not ready after a few
// seconds, with the error; once fetches work again it is ready.
func TestNotReadyWhileFetchesFail(t *testing.T) {
	for _, g := range guarantees {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			cluster := kfake.MustCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "in", "out"))
			t.Cleanup(cluster.Close) // after the pipelines' cleanups: they stop first
			brokers := cluster.ListenAddrs()
			produce(t, brokers, "in", 0, 10, strconv)
			r := runInBackground(t, g.config(brokers, os.DevNull))
			awaitReadiness(t, r, 10*time.Second, "ready", ready)

			var failing atomic.Bool
			var failed atomic.Int64
			var firstFailed atomic.Pointer[time.Time]
			failing.Store(true)
			cluster.ControlKey(int16(kmsg.Fetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
				cluster.KeepControl()
				if !failing.Load() {
					return nil, nil, false
				}
				now := time.Now()
				firstFailed.CompareAndSwap(nil, &now)
				failed.Add(1)
				return unknownTopicID(req.(*kmsg.FetchRequest)), nil, true
			})
			reason := awaitReadiness(t, r, 20*time.Second, "failing",
				reasonIs(`^input: fetching has failed for \d+s, the last error at in/0: UNKNOWN_TOPIC_ID`))
			took := time.Since(*firstFailed.Load())
			if took < 4*time.Second {
				t.Fatalf("not ready %v after the first failed fetch: a few failures in a row are no reason yet", took)
			}
			t.Logf("%v after the first failed fetch: %v", took.Round(time.Millisecond), reason)
			// A failing fetch fails again at once: polling on without a
			// pause would fetch thousands of times a second.
			if perSecond := float64(failed.Load()) / time.Since(*firstFailed.Load()).Seconds(); perSecond > 50 {
				t.Fatalf("%.0f failing fetches a second: the input spins instead of backing off", perSecond)
			}

			failing.Store(false)
			produce(t, brokers, "in", 10, 20, strconv)
			recovered := time.Now()
			awaitReadiness(t, r, 10*time.Second, "ready once fetches work", ready)
			t.Logf("ready %v after fetches work again", time.Since(recovered).Round(time.Millisecond))
		})
	}
}

// unknownTopicID answers every partition of a fetch with UNKNOWN_TOPIC_ID.
func unknownTopicID(req *kmsg.FetchRequest) *kmsg.FetchResponse {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	for _, rt := range req.Topics {
		t := kmsg.NewFetchResponseTopic()
		t.Topic, t.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			p := kmsg.NewFetchResponseTopicPartition()
			p.Partition, p.ErrorCode = rp.Partition, kerr.UnknownTopicID.Code
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp
}

// TestNotReadyAfterItsTopicWasDeleted: at least once, the input goes on
// fetching a deleted topic (franz-go never adopts a recreated one): not
// ready, saying so.
func TestNotReadyAfterItsTopicWasDeleted(t *testing.T) {
	cluster := kfake.MustCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "in"))
	t.Cleanup(cluster.Close) // after the pipelines' cleanups: they stop first
	brokers := cluster.ListenAddrs()
	produce(t, brokers, "in", 0, 10, strconv)
	r := runInBackground(t, config(brokers, "g", os.DevNull, ""))
	awaitReadiness(t, r, 10*time.Second, "ready", ready)
	if _, err := kadm.NewClient(mustClient(t, brokers)).DeleteTopics(t.Context(), "in"); err != nil {
		t.Fatal(err)
	}
	reason := awaitReadiness(t, r, 20*time.Second, "failing",
		reasonIs(`^input: fetching has failed for \d+s, the last error at in/0: UNKNOWN_TOPIC_(ID|OR_PARTITION)`))
	t.Logf("with the topic deleted: %v", reason)
}
