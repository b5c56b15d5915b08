package e2e

// Tombstones through Kafka (README "Tombstones and changes"): a record with
// a null value read by a kafka input with codec json is a tombstone, not
// invalid JSON; a map's set leaves it a tombstone while its key applies;
// the kafka output writes it with a null value again. kcat tells NULL from
// an empty value: -P -Z produces an empty value as NULL, and -C -f '%S'
// prints a value's size, -1 for NULL (kcat -h on this machine).

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestKafkaTombstones, on both brokers: JSON records and tombstones (null
// values) pass a map with set and key to a kafka output: the JSON records
// get the set fields, the tombstones stay tombstones (null, not empty, not
// "null", not a dead letter), and every record gets the mapped key. An
// empty value that is not null is not JSON: it alone is a dead letter.
func TestKafkaTombstones(t *testing.T) {
	t.Parallel()
	forEachKafka(t, func(t *testing.T, bootstrap string) {
		// set's expressions see value == nil on a tombstone; its result is
		// not applied (there is no object to edit). key applies to both.
		testKafkaTombstones(t, bootstrap, `{ set: { b: '"x"', tombstone: 'value == nil' }, key: 'key + "-m"' }`,
			[]string{`{"a":1,"b":"x","tombstone":false}`, `{"a":3,"b":"x","tombstone":false}`})
	})
}

// TestKafkaTombstoneSetReadsValue is TestKafkaTombstones with a set field
// computed from a field of the value, as most are: set leaves a tombstone
// a tombstone without evaluating its expressions (value.a of nil would
// fail it, and dead-letter it).
func TestKafkaTombstoneSetReadsValue(t *testing.T) {
	t.Parallel()
	forEachKafka(t, func(t *testing.T, bootstrap string) {
		testKafkaTombstones(t, bootstrap, `{ set: { a2: 'value.a * 2' }, key: 'key + "-m"' }`,
			[]string{`{"a":1,"a2":2}`, `{"a":3,"a2":6}`})
	})
}

// testKafkaTombstones runs kafka (json) → map → kafka over k1 (JSON), k2
// (NULL), k3 (JSON), k4 (NULL) and k5 (empty, not NULL); mapped are the
// values k1 and k3 must have after the map.
func testKafkaTombstones(t *testing.T, bootstrap, mapYAML string, mapped []string) {
	in, out, dead, group := kafkaTestName(t, "in"), kafkaTestName(t, "out"), kafkaTestName(t, "dead"), kafkaTestName(t, "group")
	watch := newProgress(t, bootstrap)
	for _, topic := range []string{in, out, dead} {
		watch.createTopicPartitions(t, topic, 1) // one partition: kcat reads in produced order
	}
	// -Z: the empty values of k2 and k4 are produced as NULL.
	kcat(t, "k1:{\"a\":1}\nk2:\nk3:{\"a\":3}\nk4:\n", "-P", "-b", bootstrap, "-t", in, "-K:", "-Z")
	// Without -Z: an empty value, zero bytes but not NULL.
	kcat(t, "k5:\n", "-P", "-b", bootstrap, "-t", in, "-K:")
	const format = "%k %S [%s]\n"
	if got, want := kcatLines(t, bootstrap, in, format), []string{`k1 7 [{"a":1}]`, `k2 -1 []`, `k3 7 [{"a":3}]`, `k4 -1 []`, `k5 0 []`}; !slices.Equal(got, want) {
		t.Fatalf("kcat produced %q, want %q: kcat's -Z or %%S does not do what this test assumes", got, want)
	}

	p := startPipeline(t, writeConfig(t, fmt.Sprintf(`
name: tombstones
input:
  kafka: { brokers: [%[1]q], topics: [%[2]q], consumer_group: %[5]q, codec: json }
pipeline:
  processors:
    - map: %[6]s
output:
  kafka: { brokers: [%[1]q], topic: %[3]q }
on_error: dead_letter
dead_letter:
  kafka: { brokers: [%[1]q], topic: %[4]q }
commit_interval: 50ms
http: { enabled: false }
`, bootstrap, in, out, dead, group, mapYAML)))
	// Five records in, five out: to the output or the dead letter.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if n := watch.records(out) + watch.records(dead); n >= 5 {
			break
		} else if p.exited() || time.Now().After(deadline) {
			t.Fatalf("%d of 5 records reached the output and the dead letter in 60s:\n%s", n, lastLines(p.stderr(), 20))
		}
	}
	p.stop(t)
	want := []string{fmt.Sprintf("k1-m %d [%s]", len(mapped[0]), mapped[0]), `k2-m -1 []`, fmt.Sprintf("k3-m %d [%s]", len(mapped[1]), mapped[1]), `k4-m -1 []`}
	deadLetters := kcatLines(t, bootstrap, dead, "%k %S [%s] %h\n")
	if got := kcatLines(t, bootstrap, out, format); !slices.Equal(got, want) {
		t.Fatalf("%s holds %q, want %q (a tombstone's size is -1, null); dead letters %q\n%s", out, got, want, deadLetters, lastLines(p.stderr(), 20))
	}
	if len(deadLetters) != 1 || !strings.HasPrefix(deadLetters[0], "k5 0 [] ") ||
		!regexp.MustCompile(`(^|,)error=[^,]*not valid JSON`).MatchString(strings.SplitN(deadLetters[0], " ", 4)[3]) {
		t.Fatalf("%s holds %q, want only k5's empty value, as not valid JSON (no tombstone)\n%s", dead, deadLetters, lastLines(p.stderr(), 20))
	}
	t.Logf("tombstones k2 and k4 passed map %s and were written as null; the empty, non-null k5 was a dead letter: %q", mapYAML, deadLetters[0])
}
