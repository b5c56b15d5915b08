package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Intake: read loops take an in-flight place for each batch (the
// max_in_flight cap), read it, and hand it to the task of its partition
// through the gate a commit closes.

// A reader feeds the run from one or more inputs, until they end (true) or
// ctx ends or the run fails (false).
type reader interface {
	read(ctx context.Context) (ended bool)
}

// inputReader reads one input with Read.
type inputReader struct {
	r     *runner
	index int
}

func (ir inputReader) read(ctx context.Context) bool {
	r, in := ir.r, ir.r.p.inputs[ir.index]
	tasks := r.newTaskSet()
	defer tasks.close()
	for {
		if in.preloaded == nil && !r.awaitPreloaded(ctx) {
			return false
		}
		if r.flight.acquire(ctx) != nil {
			return false
		}
		start := time.Now()
		batch, err := in.input.Read(ctx)
		// A batch without records is dropped, unless it moves the position
		// on (a CDC input's heartbeat).
		if err != nil || (len(batch.Records) == 0 && batch.Position.IsZero()) {
			r.flight.giveBack()
			switch {
			case errors.Is(err, io.EOF):
				return true
			case ctx.Err() != nil:
				return false
			case err != nil:
				r.fail(fmt.Errorf("%s: %w", in.path, err))
				return false
			}
			continue
		}
		in.metrics.observe(start, 0, len(batch.Records), 0)
		// What was read and not handed on is read again after a restart:
		// its position was never committed.
		if r.intake.enter(ctx) != nil {
			r.flight.giveBack()
			return false
		}
		r.handOver(ctx, tasks, ir.index, batch)
		r.intake.leave()
	}
}

// handOver gives a read batch, for which an in-flight place is taken, to the
// task of its partition. The caller is inside the intake gate.
func (r *runner) handOver(ctx context.Context, tasks *taskSet, input int, batch InputBatch) {
	in := r.p.inputs[input]
	in.metrics.received.Add(float64(len(batch.Records)))
	r.read.Add(int64(len(batch.Records)))
	ack := r.newAck(r.positions[input].track(batch.Partition, batch.Position))
	tasks.send(ctx, input, batch.Partition, taskItem{input: in.path, records: batch.Records, ack: ack})
	r.protocol.read(len(batch.Records))
}

// preloadPoll is how often a reader waiting for preloaded inputs looks.
const preloadPoll = 10 * time.Millisecond

// awaitPreloaded waits until every preloaded input is loaded; false when
// ctx ended first.
func (r *runner) awaitPreloaded(ctx context.Context) bool {
	for _, in := range r.p.inputs {
		for in.preloaded != nil && !in.preloaded.Loaded() {
			select {
			case <-ctx.Done():
				return false
			case <-time.After(preloadPoll):
			}
		}
	}
	return true
}
