package engine

import (
	"errors"
	"fmt"
	"strings"
)

// RecordsRejected is what an output's Write (or WriteAsync's done) returns
// when it wrote every record of the slice except some it cannot take: a
// value its codec cannot encode (NaN), a record larger than the broker
// accepts, a row that violates a constraint. Retrying would not help them,
// and failing the whole slice would hold back the good ones, so the engine
// treats the slice as written and sends each rejected record to the
// dead-letter output with its error (on_error: dead_letter), or stops
// without committing (on_error: stop). An error that is not a
// RecordsRejected still fails the whole slice.
type RecordsRejected struct {
	Rejects []Rejection
}

// Rejection is one record an output did not write, by its index in the
// slice it was handed, and why.
type Rejection struct {
	Index int
	Err   error
}

// Reject adds the record at index i, rejected for err.
func (e *RecordsRejected) Reject(i int, err error) {
	e.Rejects = append(e.Rejects, Rejection{Index: i, Err: err})
}

// OrNil is e as an error when it rejected something, else nil: the return
// of a Write that collected rejections as it went.
func (e *RecordsRejected) OrNil() error {
	if e == nil || len(e.Rejects) == 0 {
		return nil
	}
	return e
}

func (e *RecordsRejected) Error() string {
	if len(e.Rejects) == 0 {
		return "no records rejected"
	}
	first := e.Rejects[0]
	msg := fmt.Sprintf("record %d of the write rejected: %v", first.Index, first.Err)
	if n := len(e.Rejects) - 1; n > 0 {
		msg += fmt.Sprintf(" (and %d more)", n)
	}
	return msg
}

// rejectionsOf sorts out what a write of n records returned: the
// rejections it carries (a RecordsRejected naming records of the slice),
// or else err as it is, a failure of the whole write.
func rejectionsOf(err error, n int) (*RecordsRejected, error) {
	var rejected *RecordsRejected
	if !errors.As(err, &rejected) {
		return nil, err
	}
	var bad []string
	for _, rj := range rejected.Rejects {
		if rj.Index < 0 || rj.Index >= n || rj.Err == nil {
			bad = append(bad, fmt.Sprintf("%d", rj.Index))
		}
	}
	if len(bad) > 0 {
		// An output bug; failing the write keeps the records.
		return nil, fmt.Errorf("output rejected records it was not handed, or without a reason (indexes %s of %d)", strings.Join(bad, ", "), n)
	}
	return rejected, nil
}

// settleRejects ends a write whose output rejected some records: the
// rest are written; the rejected go to the dead-letter output, or stop
// the run (the error, which fails the batch).
func (r *runner) settleRejects(out *outputNode, req writeRequest, rejected *RecordsRejected) error {
	failures := make([]Failure, len(rejected.Rejects))
	for i, rj := range rejected.Rejects {
		failures[i] = Failure{Component: out.path, Record: req.records[rj.Index], Err: rj.Err}
	}
	out.metrics.errors.Add(float64(len(failures)))
	switch {
	case r.p.Settings.OnError != OnErrorDeadLetter:
		return stopError(failures)
	case out.index == r.p.deadLetter:
		// A dead letter the dead-letter output cannot take has nowhere left
		// to go.
		return fmt.Errorf("the dead-letter output rejected a record: %w", stopError(failures))
	default:
		dead := make([]*Record, len(failures))
		for i, f := range failures {
			dead[i] = deadLetterRecord(f)
		}
		// Never blocks: the dead-letter writer's queue holds what every
		// batch in flight can send it (see startWriters), and this may run
		// on a producer's callback goroutine that the dead-letter output's
		// own writes wait for.
		req.ack.pending.Add(1)
		r.writes[r.p.deadLetter] <- writeRequest{records: dead, ack: req.ack}
	}
	return nil
}
