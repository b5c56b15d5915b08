package kafka

import (
	"fmt"
	"sync"
	"time"
)

// readiness tells whether the input can make progress (engine
// ReadinessReporter): not until its group completed a join and assigned it
// partitions, and not while its fetches keep failing. Under exactly-once
// the inputs of a session share one: the session's group is theirs.
//
// A join that assigned nothing counts as ready: the group has more members
// than partitions, and another instance reads them.
//
// Fetches are judged by what polls bring, since franz-go hands on errors
// but not the fetches that found nothing new: a run of errors (each within
// quietAfter of the last) that lasted failingAfter makes the input not
// ready; records, or quietAfter without an error, end it.
type readiness struct {
	group, instance string
	now             func() time.Time

	mu        sync.Mutex
	of        *readiness // the session's, for an input that reads through another's
	started   bool
	joined    bool      // a join completed and the session was not lost since
	joining   time.Time // since when it has been (re)joining
	failure   error     // the last error of the current run of errors
	where     string    // where the last error was
	failingAt time.Time // the first error of the current run
	lastAt    time.Time // the last error of the current run
}

const (
	// failingAfter is how long fetches must keep failing before the
	// input says it cannot make progress: a leader moving or a broker
	// restarting is over by then.
	failingAfter = 5 * time.Second
	// quietAfter without a new error ends a run of errors: a failing
	// fetch is retried, and fails again, well within it.
	quietAfter = 5 * time.Second
)

func newReadiness(group string) *readiness {
	return &readiness{group: group, now: time.Now}
}

// follow makes r report what of does: the readiness of the session this
// input reads through.
func (r *readiness) follow(of *readiness) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if of != r {
		r.of = of
	}
}

// start marks the beginning of the first join, as instance.
func (r *readiness) start(instance string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started, r.joined, r.joining, r.instance = true, false, r.now(), instance
}

// assigned is called once a join completed, whatever it assigned.
func (r *readiness) assigned() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.joined = true
}

// lost is called when the group session ended by an error: the member
// must join again.
func (r *readiness) lost() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.joined {
		r.joined, r.joining = false, r.now()
	}
}

// fetchFailed records an error a poll brought, where it happened.
func (r *readiness) fetchFailed(where string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if r.failure == nil || now.Sub(r.lastAt) > quietAfter {
		r.failingAt = now
	}
	r.failure, r.where, r.lastAt = err, where, now
}

// fetched is called when a poll brought records: fetches work.
func (r *readiness) fetched() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failure = nil
}

// Ready is nil when the input can make progress, else why not.
func (r *readiness) Ready() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.of != nil {
		return r.of.Ready()
	}
	now := r.now()
	failing := r.failure != nil && now.Sub(r.lastAt) <= quietAfter
	switch {
	case !r.started:
		return fmt.Errorf("not started")
	case !r.joined:
		err := fmt.Errorf("joining consumer group %q as instance %q for %s: no partitions assigned yet",
			r.group, r.instance, now.Sub(r.joining).Round(time.Second))
		if failing {
			err = fmt.Errorf("%w; the last error, at %s: %v", err, r.where, r.failure)
		}
		return err
	case failing && now.Sub(r.failingAt) >= failingAfter:
		return fmt.Errorf("fetching has failed for %s, the last error at %s: %v",
			now.Sub(r.failingAt).Round(time.Second), r.where, r.failure)
	}
	return nil
}
