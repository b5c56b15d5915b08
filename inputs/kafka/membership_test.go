package kafka_test

// Static group membership by default (KIP-345): the id each input joins
// as, that it is stable across runs and distinct between inputs, and that a
// restart replaces the member a crash left at once.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/enginetest"
)

// running is a pipeline run in the background until stop.
type running struct {
	p     *engine.Pipeline
	stop  func() error
	ended chan struct{} // closed when the run ended, by itself or by stop
	err   error         // the run's error, once ended
}

func runInBackground(t *testing.T, yaml string) *running {
	t.Helper()
	p, err := enginetest.Build(t, yaml, registers...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{p: p, ended: make(chan struct{})}
	go func() { r.err = p.Run(ctx); close(r.ended) }()
	r.stop = func() error {
		cancel()
		<-r.ended
		return r.err
	}
	t.Cleanup(func() { _ = r.stop() })
	return r
}

// awaitStable waits until group is stable with n members, none of them
// one of the members not.
func awaitStable(t *testing.T, adm *kadm.Client, group string, n int, not ...string) kadm.DescribedGroup {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		described, err := adm.DescribeGroups(context.Background(), group)
		if err == nil && described[group].State == "Stable" && len(described[group].Members) == n &&
			!slices.ContainsFunc(described[group].Members, func(m kadm.DescribedGroupMember) bool { return slices.Contains(not, m.MemberID) }) {
			return described[group]
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s: %+v (%v), want %d members, stable", group, described[group], err, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// instanceIDs waits until group is stable with n members, none of them
// one of the members not, and returns their instance ids, sorted, and
// their member ids.
func instanceIDs(t *testing.T, adm *kadm.Client, group string, n int, not ...string) (ids, members []string) {
	t.Helper()
	for _, m := range awaitStable(t, adm, group, n, not...).Members {
		if m.InstanceID == nil {
			t.Fatalf("member %s of %s has no instance id: it is a dynamic member", m.MemberID, group)
		}
		ids = append(ids, *m.InstanceID)
		members = append(members, m.MemberID)
	}
	slices.Sort(ids)
	return ids, members
}

func TestInputsJoinAsStaticMembersByDefault(t *testing.T) {
	cluster := kfake.MustCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "a", "b"))
	t.Cleanup(cluster.Close) // after the pipelines' cleanups: they stop first
	brokers := cluster.ListenAddrs()
	adm := kadm.NewClient(mustClient(t, brokers))
	config := func(stateDir string) string {
		return fmt.Sprintf(`
name: orders
inputs:
  a: {kafka: {brokers: [%[1]q], topics: [a]}}
  b: {kafka: {brokers: [%[1]q], topics: [b]}}
output: {drop: {}}
state: {dir: %[2]q}
`, brokers[0], stateDir)
	}
	stateDir := t.TempDir()
	yaml := config(stateDir)
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	shape := regexp.MustCompile(`^orders-` + regexp.QuoteMeta(host) + `-[0-9a-f]{8}-[0-9a-f]{8}$`)

	first := runInBackground(t, yaml)
	ids, members := instanceIDs(t, adm, "orders", 2)
	if err := first.stop(); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if !shape.MatchString(id) {
			t.Errorf("instance id %q, want orders-%s-<8 hex digits>-<8 hex digits>", id, host)
		}
	}
	if ids[0] == ids[1] {
		t.Errorf("both inputs joined as %q: two members with one id fence each other", ids[0])
	}

	// Run again: the same ids, whose members replace those the first run
	// left (a static member does not leave when it stops).
	second := runInBackground(t, yaml)
	again, members := instanceIDs(t, adm, "orders", 2, members...)
	if !slices.Equal(again, ids) {
		t.Errorf("the second run joined as %v, the first as %v", again, ids)
	}
	if err := second.stop(); err != nil {
		t.Fatal(err)
	}

	// Another instance on this host, in the same working directory, with a
	// state directory of its own, is another member: the two would fence
	// each other with one id. (The group then holds the two stopped
	// members of the runs above, whose sessions have not ended, and these
	// two, and rebalances until the stopped ones time out.)
	third := runInBackground(t, config(filepath.Join(stateDir, "other")))
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		described, err := adm.DescribeGroups(context.Background(), "orders")
		if err == nil && len(described["orders"].Members) == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the instance with another state directory did not join as two more members: %+v (%v)", described["orders"], err)
		}
	}
	began := time.Now()
	if err := third.stop(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("stopping while the group rebalanced took %v", took)
	}
}

func TestConfiguredInstanceID(t *testing.T) {
	cluster := kfake.MustCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "in"))
	t.Cleanup(cluster.Close) // after the pipelines' cleanups: they stop first
	brokers := cluster.ListenAddrs()
	runInBackground(t, config(brokers, "g", os.DevNull, ", instance_id: orders-0.pod_a"))
	if ids, _ := instanceIDs(t, kadm.NewClient(mustClient(t, brokers)), "g", 1); ids[0] != "orders-0.pod_a" {
		t.Fatalf("joined as %q, want orders-0.pod_a", ids[0])
	}

	_, err := enginetest.Build(t, config(brokers, "g", os.DevNull, ", instance_id: 'pod a/1'"), registers...)
	if err == nil || !strings.Contains(err.Error(), `input.kafka.instance_id: "pod a/1" holds " "`) {
		t.Fatalf("an instance id Kafka refuses: got %v", err)
	}
}

func TestExactlyOnceJoinsAsItsTransactionalID(t *testing.T) {
	cluster := kfake.MustCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "in", "out"))
	t.Cleanup(cluster.Close) // after the pipelines' cleanups: they stop first
	brokers := cluster.ListenAddrs()
	runInBackground(t, fmt.Sprintf(`
name: orders
processing_guarantee: exactly_once
exactly_once: {transactional_id: orders-7}
input: {kafka: {brokers: [%[1]q], topics: [in]}}
output: {kafka: {brokers: [%[1]q], topic: out}}
`, brokers[0]))
	if ids, _ := instanceIDs(t, kadm.NewClient(mustClient(t, brokers)), "orders", 1); ids[0] != "orders-7" {
		t.Fatalf("the session joined as %q, want its transactional id orders-7", ids[0])
	}
}

// TestRestartReplacesTheCrashedMember: a run that ends without leaving the
// group (as a SIGKILL ends one: its LeaveGroup never arrives) leaves a member
// that holds the partitions until its session (45 s) times out; the next
// run, as the same instance, replaces it and reads at once.
func TestRestartReplacesTheCrashedMember(t *testing.T) {
	cluster := kfake.MustCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "in"))
	t.Cleanup(cluster.Close) // after the pipelines' cleanups: they stop first
	cluster.ControlKey(int16(kmsg.LeaveGroup), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		return req.ResponseKind(), nil, true // answered, not done: the member stays
	})
	brokers := cluster.ListenAddrs()
	dir := t.TempDir()
	crashed := runInBackground(t, config(brokers, "g", dir+"/first.txt", ""))
	awaitStable(t, kadm.NewClient(mustClient(t, brokers)), "g", 1)
	if err := crashed.stop(); err != nil {
		t.Fatal(err)
	}

	produce(t, brokers, "in", 0, 30, strconv)
	began := time.Now()
	out := dir + "/second.txt"
	runInBackground(t, config(brokers, "g", out, ""))
	for deadline := began.Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		data, _ := os.ReadFile(out)
		if n := strings.Count(string(data), "\n"); n == 30 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the restarted input wrote %d of 30 records in 5s: it waits for the crashed member", n)
		}
	}
	t.Logf("the restart read everything %v after it started", time.Since(began).Round(time.Millisecond))
}
