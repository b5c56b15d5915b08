package engine

import (
	"fmt"
	"sync/atomic"
)

// batchAck resolves once every output a batch's records were routed to has
// written them. Only then may the batch's position be committed.
type batchAck struct {
	r       *runner
	pending atomic.Int32
	failed  atomic.Bool
	tracked *trackedBatch // nil for records released at the end of input
}

// newAck hands on the batch of an in-flight place, counting one pending
// part: its processing.
func (r *runner) newAck(tracked *trackedBatch) *batchAck {
	r.flight.handOn()
	r.p.metrics.inFlight.Inc()
	a := &batchAck{r: r, tracked: tracked}
	a.pending.Store(1)
	return a
}

func (a *batchAck) done(err error) {
	if err != nil {
		a.failed.Store(true)
	}
	if a.pending.Add(-1) != 0 {
		return
	}
	if a.tracked != nil && !a.failed.Load() {
		a.tracked.resolve()
	}
	a.r.p.metrics.inFlight.Dec()
	a.r.flight.release()
}

// dispatch sends a processed batch's records to the outputs they were
// routed to, and its failures to the dead-letter output, or fails the run
// when on_error says stop. The ack's processing part ends here.
func (r *runner) dispatch(b *Batch, ack *batchAck) {
	p := r.p
	routed := b.outcome.routed
	if len(b.Records) > 0 {
		if p.mainOutput < 0 {
			r.failBatch(ack, fmt.Errorf("%d records reached the end of pipeline.processors, and there is no output", len(b.Records)))
			return
		}
		routed[p.mainOutput] = append(b.Records, routed[p.mainOutput]...)
	}
	if failures := b.outcome.failures; len(failures) > 0 {
		if p.Settings.OnError != OnErrorDeadLetter {
			r.failBatch(ack, stopError(failures))
			return
		}
		for _, f := range failures {
			routed[p.deadLetter] = append(routed[p.deadLetter], deadLetterRecord(f))
		}
	}
	for i, recs := range routed {
		if len(recs) == 0 {
			continue
		}
		ack.pending.Add(1)
		select {
		case r.writes[i] <- writeRequest{records: recs, ack: ack}:
		case <-r.writeCtx.Done():
			// The drain was abandoned; the writer may be stuck.
			ack.done(r.writeCtx.Err())
		}
	}
	ack.done(nil)
}

// failBatch ends a batch that cannot be written, and the run with it.
func (r *runner) failBatch(ack *batchAck, err error) {
	ack.done(err)
	r.fail(err)
}

// stopError names the first failed record of a batch under on_error: stop.
func stopError(failures []Failure) error {
	f := failures[0]
	err := fmt.Errorf("%s: %s: %v", f.Component, f.Record.Describe(), f.Err)
	switch n := len(failures); {
	case n == 2:
		err = fmt.Errorf("%w (and 1 more failed record in the same batch)", err)
	case n > 2:
		err = fmt.Errorf("%w (and %d more failed records in the same batch)", err, n-1)
	}
	return err
}

// deadLetterRecord is the failed record as its input read it, with the error,
// the failing component and the record's source in headers.
func deadLetterRecord(f Failure) *Record {
	key, value := f.Record.Original()
	d := &Record{
		Key:       key,
		Headers:   append([]Header(nil), f.Record.Headers...),
		Timestamp: f.Record.Timestamp,
		Source:    f.Record.Source,
		Offset:    f.Record.Offset,
		Op:        f.Record.Op,
		raw:       value,
		format:    Text,
	}
	if value == nil {
		d.SetValue(f.Record.decoded)
	}
	d.Headers = append(d.Headers,
		Header{Key: "error", Value: []byte(f.Err.Error())},
		Header{Key: "error_component", Value: []byte(f.Component)},
		Header{Key: "error_source", Value: []byte(f.Record.Describe())})
	return d
}
