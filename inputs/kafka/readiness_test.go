package kafka

import (
	"errors"
	"testing"
	"time"
)

// TestReadinessRules walks readiness through a join, a run of failing
// fetches that ends in records, one that ends in quiet, and a lost
// session, on a clock of its own.
func TestReadinessRules(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := newReadiness("g")
	r.now = func() time.Time { return now }
	step := func(d time.Duration) { now = now.Add(d) }
	want := func(what, reason string) {
		t.Helper()
		err := r.Ready()
		switch {
		case reason == "" && err != nil:
			t.Fatalf("%s: not ready: %v", what, err)
		case reason != "" && (err == nil || err.Error() != reason):
			t.Fatalf("%s: readiness %v, want %q", what, err, reason)
		}
	}
	unknown := errors.New("UNKNOWN_TOPIC_ID: This server does not host this topic ID.")

	want("before start", "not started")
	r.start("i-1")
	step(3 * time.Second)
	want("joining", `joining consumer group "g" as instance "i-1" for 3s: no partitions assigned yet`)
	r.fetchFailed("consumer group g", errors.New("REBALANCE_IN_PROGRESS"))
	want("joining, with an error", `joining consumer group "g" as instance "i-1" for 3s: no partitions assigned yet; `+
		`the last error, at consumer group g: REBALANCE_IN_PROGRESS`)
	r.assigned()
	want("assigned (perhaps nothing)", "")

	for range 4 {
		step(time.Second)
		r.fetchFailed("in/0", unknown)
	}
	want("failing for 4s", "") // under failingAfter: a leader moving
	step(time.Second)
	r.fetchFailed("in/0", unknown)
	want("failing for 5s", "fetching has failed for 5s, the last error at in/0: "+unknown.Error())
	r.fetched()
	want("records again", "")

	for range 6 {
		r.fetchFailed("in/1", unknown)
		step(time.Second)
	}
	want("failing for 6s", "fetching has failed for 6s, the last error at in/1: "+unknown.Error())
	step(quietAfter)
	want("no error for quietAfter (an idle topic fetched well)", "")
	r.fetchFailed("in/1", unknown)
	want("a new first error", "")

	r.lost()
	step(2 * time.Second)
	want("session lost", `joining consumer group "g" as instance "i-1" for 2s: no partitions assigned yet; `+
		`the last error, at in/1: `+unknown.Error())
	r.assigned()
	want("joined again", "")

	shared := newReadiness("g")
	shared.follow(r)
	r.lost()
	if shared.Ready() == nil || shared.Ready().Error() != r.Ready().Error() {
		t.Fatalf("an input of the session says %v, the session %v", shared.Ready(), r.Ready())
	}
}
