package engine

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Each output has one writer goroutine, fed in order, so a partition's
// records reach an output in order.

type writeRequest struct {
	records []*Record
	ack     *batchAck
}

// startWriters starts one writer per output. Writes outlive a stop request:
// ctx ends only when the shutdown timeout abandons them.
func (r *runner) startWriters(ctx context.Context) {
	r.writes = make([]chan writeRequest, len(r.p.outputs))
	for i := range r.p.outputs {
		queue := 4
		if i == r.p.deadLetter {
			// Outputs send it the records they reject, possibly from a
			// producer's callback, which must not block: each batch in
			// flight sends it at most once from dispatch and once per
			// output, so this queue never fills.
			queue = r.p.Settings.MaxInFlight * (len(r.p.outputs) + 1)
		}
		r.writes[i] = make(chan writeRequest, queue)
	}
	for i, out := range r.p.outputs {
		group := &r.writing
		if i == r.p.deadLetter {
			group = &r.deadLetterWriting
		}
		group.Go(func() { r.writeLoop(ctx, out, r.writes[i]) })
	}
}

// stopWriters lets every writer finish what it was handed, and waits: the
// dead-letter writer last, since the others may still hand it what they
// rejected.
func (r *runner) stopWriters() {
	for i, ch := range r.writes {
		if i != r.p.deadLetter {
			close(ch)
		}
	}
	r.writing.Wait()
	if r.p.deadLetter >= 0 {
		close(r.writes[r.p.deadLetter])
	}
	r.deadLetterWriting.Wait()
}

// writeLoop writes what it is handed until its channel closes, or, when
// the drain was abandoned and the channel may never close, its grace ends.
func (r *runner) writeLoop(ctx context.Context, out *outputNode, requests <-chan writeRequest) {
	async, _ := out.output.(AsyncOutput)
	for {
		var req writeRequest
		select {
		case next, ok := <-requests:
			if !ok {
				return
			}
			req = next
		case <-r.graceCtx.Done():
			return
		}
		if ctx.Err() != nil {
			req.ack.done(ctx.Err())
			continue
		}
		start := time.Now()
		if async != nil {
			// Written in order, acknowledged whenever the sink is done;
			// the output retried what it could.
			async.WriteAsync(ctx, req.records, func(err error) { r.settleWrite(ctx, out, req, start, err, 0) })
			continue
		}
		retries := r.protocol.writeRetries()
		err := r.writeWithRetry(ctx, out, req.records, retries)
		r.settleWrite(ctx, out, req, start, err, retries)
	}
}

// settleWrite ends one write request: its records are written, some were
// rejected (RecordsRejected), or (err) it failed for good after retries.
func (r *runner) settleWrite(ctx context.Context, out *outputNode, req writeRequest, start time.Time, err error, retries int) {
	written := len(req.records)
	rejected, err := rejectionsOf(err, len(req.records))
	if rejected != nil {
		if err = r.settleRejects(out, req, rejected); err != nil {
			req.ack.done(err)
			r.protocol.writeFailed(err)
			return
		}
		written -= len(rejected.Rejects)
	} else if err != nil {
		out.metrics.errors.Add(float64(len(req.records)))
		req.ack.done(err)
		if ctx.Err() == nil {
			r.protocol.writeFailed(fmt.Errorf("%s: %s: %w", out.path, writeFailure(retries), err))
		}
		return
	}
	out.metrics.observe(start, len(req.records), written, 0)
	r.written.Add(int64(written))
	req.ack.done(nil)
}

func writeFailure(retries int) string {
	if retries == 0 {
		return "write failed"
	}
	return fmt.Sprintf("write failed after %d retries", retries)
}

func (r *runner) writeWithRetry(ctx context.Context, out *outputNode, records []*Record, retries int) error {
	s := r.p.Settings
	backoff := s.InitialBackoff
	for attempt := 0; ; attempt++ {
		err := out.output.Write(ctx, records)
		if err == nil || attempt >= retries || ctx.Err() != nil || errors.As(err, new(*RecordsRejected)) {
			return err
		}
		r.p.log.Warn("output write failed; retrying", "output", out.path, "attempt", attempt+1, "backoff", backoff, "error", err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return err
		}
		backoff = min(backoff*2, s.MaxBackoff)
	}
}
