package e2e

// State on a Kafka input: an aggregate keyed by the Kafka record key, over a
// topic of three partitions, killed with SIGKILL mid-stream. State and input
// positions are committed together (state first, then the group offsets), so
// after the kills every key's last total equals an independent sum: updates
// may be repeated, but no record is counted twice or lost.

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestKafkaStatefulSIGKILLKeepsExactTotals(t *testing.T) {
	t.Parallel()
	forEachKafka(t, testKafkaStatefulSIGKILL)
}

func testKafkaStatefulSIGKILL(t *testing.T, bootstrap string) {
	in, out, group := kafkaTestName(t, "in"), kafkaTestName(t, "totals"), kafkaTestName(t, "group")
	cfg := writeConfig(t, fmt.Sprintf(`
name: kafka-stateful
input:
  kafka:
    brokers: [%[1]q]
    topics: [%[2]q]
    consumer_group: %[3]q
    instance_id: e2e-instance
    session_timeout: 6s
    codec: json
    batch_size: 100
pipeline:
  processors:
    - aggregate:
        key: key
        key_field: user
        ops: { total: 'sum(value.amount)', n: 'count()' }
        emit: on_update
    - map:
        key: 'value.user'
        value: 'string(value.total) + "/" + string(value.n)'
output:
  kafka:
    brokers: [%[1]q]
    topic: %[4]q
    create_topic: { enabled: true, partitions: 3 }
state: { dir: %[5]q }
http: { enabled: false }
commit_interval: 50ms
`, bootstrap, in, group, out, t.TempDir()))
	watch := newProgress(t, bootstrap)
	watch.createTopic(t, out)

	const users, chunk = 50, 12000
	total, count := map[string]int{}, map[string]int{}
	produced := 0
	produceChunk := func() {
		var lines []string
		for i := produced; i < produced+chunk; i++ {
			user, amount := fmt.Sprintf("user%02d", i%users), i%7+1
			total[user] += amount
			count[user]++
			lines = append(lines, fmt.Sprintf(`%s:{"amount":%d}`, user, amount))
		}
		kcatProduce(t, bootstrap, in, lines)
		produced += chunk
	}
	produceChunk()
	produceChunk()
	began := time.Now()
	var report []string
	for kill := 1; kill <= 3; kill++ {
		produceChunk()
		committed, late := watch.killMidStream(t, cfg, group, out, func() int64 { return int64(produced) }, produceChunk)
		report = append(report, fmt.Sprintf("kill %d: %d produced, %d committed (%d late kills before)", kill, produced, committed, late))
	}
	produceChunk()
	p := startPipeline(t, cfg)
	want := map[string]string{}
	for user := range total {
		want[user] = fmt.Sprintf("%d/%d", total[user], count[user])
	}
	var last map[string]string
	deadline := time.Now().Add(90 * time.Second)
	for {
		last = lastValues(t, bootstrap, out)
		if mapsEqual(last, want) && watch.committed(t, group) == int64(produced) {
			break
		}
		if p.exited() {
			t.Fatalf("the last run exited:\n%s", p.stderr())
		}
		if time.Now().After(deadline) {
			var wrong []string
			for user, w := range want {
				if last[user] != w {
					wrong = append(wrong, fmt.Sprintf("%s: %q, want %q", user, last[user], w))
				}
			}
			t.Fatalf("after the kills the last totals differ for %d users (%s); committed %d of %d\n%s",
				len(wrong), strings.Join(firstN(wrong, 5), "; "), watch.committed(t, group), produced, p.stderr())
		}
		time.Sleep(300 * time.Millisecond)
	}
	p.stop(t)
	// Every update of a user is its running count: n goes 1, 2, ... with
	// repeats after a kill (the updates since the last commit), never a gap
	// (a record lost) nor a jump past the highest so far plus one (a record
	// counted twice).
	highest := map[string]int{}
	updates := 0
	for _, line := range kcatLines(t, bootstrap, out, "%k %s\n") {
		user, value, _ := strings.Cut(line, " ")
		_, countText, _ := strings.Cut(value, "/")
		n, err := strconv.Atoi(countText)
		if err != nil {
			t.Fatalf("update %q: want total/count", line)
		}
		if n > highest[user]+1 {
			t.Fatalf("%s's count jumps from %d to %d", user, highest[user], n)
		}
		highest[user] = max(highest[user], n)
		updates++
	}
	t.Logf("%s; every user's last total/count equals the independent sum (%d users, %d records, %d updates) in %v",
		strings.Join(report, "; "), users, produced, updates, time.Since(began).Round(time.Millisecond))
}

// lastValues reads a topic with kcat, partition by partition in offset
// order, and returns the last value of each key.
func lastValues(t *testing.T, bootstrap, topic string) map[string]string {
	t.Helper()
	last := map[string]string{}
	for _, line := range kcatLines(t, bootstrap, topic, "%k %s\n") {
		if k, v, ok := strings.Cut(line, " "); ok {
			last[k] = v
		}
	}
	return last
}

// kcatLines reads a whole topic in kcat's order (each partition in offset
// order), unsorted.
func kcatLines(t *testing.T, bootstrap, topic, format string) []string {
	t.Helper()
	out := strings.TrimSuffix(kcat(t, "", "-C", "-b", bootstrap, "-t", topic, "-e", "-q", "-f", format), "\n")
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
