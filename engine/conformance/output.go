package conformance

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/engine"
)

// The output checks, by the names of their subtests.
const (
	// CheckWriteReadBack: records written in several Writes (one of no
	// records) come back from the sink in the order written, with their
	// values, and their keys, headers and timestamps where the sink keeps
	// them.
	CheckWriteReadBack = "writes_in_order"
	// CheckOutputTombstones: a tombstone written (read without a value, or
	// its value set to nil by a processor) comes back as the sink's
	// tombstone (OutputHarness.TombstoneValue).
	CheckOutputTombstones = "writes_tombstones"
	// CheckAsync: an engine.AsyncOutput calls done exactly once per
	// WriteAsync, without error, in the order of the calls, and the records
	// land in that order.
	CheckAsync = "writes_async_in_order"
	// CheckCancelledWrite: Write with a cancelled context returns within
	// 2s (and so does WriteAsync's done, for an engine.AsyncOutput).
	CheckCancelledWrite = "write_returns_when_cancelled"
	// CheckOutputCloseTwice: Close of a started output that wrote, and
	// Close again, return no error and do not panic.
	CheckOutputCloseTwice = "close_twice"
	// CheckOutputCloseWithoutStart: Close of an output never started,
	// twice, returns no error and does not panic.
	CheckOutputCloseWithoutStart = "close_without_start"
	// CheckWriteAfterClose: Write after Close returns an error (within
	// 2s) rather than panicking, or writing.
	CheckWriteAfterClose = "write_after_close_fails"
	// CheckRejectsSingleRecords: records the output cannot take
	// (OutputHarness.Unwritable) are rejected one by one with an
	// engine.RecordsRejected naming exactly them, by Write and by
	// WriteAsync's done, and the records around them are written.
	CheckRejectsSingleRecords = "rejects_single_records"
)

// OutputHarness tells TestOutput how to drive one output.
type OutputHarness struct {
	// Sink makes a new, empty sink for one check (a file in a fresh
	// directory, a new topic) and says how to make outputs writing to it
	// and how to read it. Every check makes its own.
	Sink func(t *testing.T) OutputSink
	// What the sink keeps of a record besides its value, and ReadBack
	// gives back: those it keeps are compared.
	KeepsKeys, KeepsHeaders, KeepsTimestamps bool
	// TombstoneValue is the value ReadBack gives for a tombstone written:
	// nil where the sink keeps a record without a value (Kafka, the
	// envelope codec's null), else what its codec writes for one
	// (LineTombstone).
	TombstoneValue []byte
	// NoTombstones says why the sink has no tombstone to read back (a
	// database table, where a tombstone deletes its key's row); the
	// tombstone check is skipped, saying so. The output's own tests must
	// then cover what it does with one.
	NoTombstones string
	// Unwritable makes a record the output must reject on its own (a value
	// its codec cannot encode, a record too large for the broker). Nil
	// for an output that takes every record: the check is skipped.
	Unwritable func() *engine.Record
}

// OutputSink is one sink of a check, and how to make outputs writing to it.
type OutputSink struct {
	// New builds a fresh output writing to the sink, as the plugin's New
	// does: not started. The suite closes every output it built.
	New func(t *testing.T) engine.Output
	// ReadBack returns the records the sink holds, in the order written,
	// once it holds n (a sink that others read later, such as a topic, is
	// read until n came, or the test fails after a while). The suite calls
	// it once everything was written and the output closed. Nil for a
	// sink that cannot be read back (drop): the checks that read back are
	// skipped.
	ReadBack func(t *testing.T, n int) []Record
}

// TestOutput runs every output check against the output h drives, each as
// a subtest of t named by its Check* constant.
func TestOutput(t *testing.T, h OutputHarness) {
	t.Helper()
	if h.Sink == nil {
		t.Fatal("conformance: OutputHarness.Sink is nil")
	}
	check(t, CheckWriteReadBack, h.testWriteReadBack)
	check(t, CheckOutputTombstones, h.testTombstones)
	check(t, CheckAsync, h.testAsync)
	check(t, CheckCancelledWrite, h.testCancelledWrite)
	check(t, CheckOutputCloseTwice, h.testCloseTwice)
	check(t, CheckOutputCloseWithoutStart, h.testCloseWithoutStart)
	check(t, CheckWriteAfterClose, h.testWriteAfterClose)
	check(t, CheckRejectsSingleRecords, h.testRejects)
}

func (h OutputHarness) sink(t *testing.T, readBack bool) OutputSink {
	t.Helper()
	s := h.Sink(t)
	if s.New == nil {
		t.Fatal("conformance: an OutputSink needs New")
	}
	if readBack && s.ReadBack == nil {
		t.Skip("the sink cannot be read back (OutputSink.ReadBack is nil)")
	}
	return s
}

// liveOutput is an output a check built; the check's cleanup closes it
// unless the check did.
type liveOutput struct {
	engine.Output
	closed bool
}

func newOutput(t *testing.T, s OutputSink, start bool) *liveOutput {
	t.Helper()
	out := &liveOutput{Output: s.New(t)}
	t.Cleanup(func() {
		if !out.closed {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = safely("Close", func() error { return out.Output.Close(ctx) })
		}
	})
	if start {
		if s, ok := out.Output.(engine.Starter); ok {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := safely("Start", func() error { return s.Start(ctx) }); err != nil {
				t.Fatalf("Start: %v", err)
			}
		}
	}
	return out
}

func (out *liveOutput) close(t *testing.T) {
	t.Helper()
	out.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := safely("Close", func() error { return out.Output.Close(ctx) }); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// write writes recs with one Write, failing the test on an error.
func (out *liveOutput) write(t *testing.T, recs []*engine.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := safely("Write", func() error { return out.Write(ctx, recs) }); err != nil {
		t.Fatalf("Write of %d records: %v", len(recs), err)
	}
}

// toEngine makes engine records of recs, as an input makes them: a value
// of JSON bytes (none for a tombstone), a key, headers, a timestamp.
func toEngine(recs []Record) []*engine.Record {
	out := make([]*engine.Record, len(recs))
	for i, r := range recs {
		e := engine.NewRecord(r.Value, engine.JSON)
		e.SetKeyFromInput(r.Key)
		e.Headers = r.Headers
		e.Timestamp = r.Timestamp
		e.Offset = int64(i)
		out[i] = e
	}
	return out
}

// compare wants got to be want, record for record, in order, with what the
// sink keeps.
func (h OutputHarness) compare(t *testing.T, want, got []Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("read back %d records, want %d", len(got), len(want))
	}
	errs := 0
	for i := range min(len(got), len(want)) {
		w, g := want[i], got[i]
		if w.Value == nil {
			w.Value = h.TombstoneValue
		}
		var diffs []string
		if !sameValue(g.Value, w.Value) {
			diffs = append(diffs, "value")
		}
		if h.KeepsKeys && string(g.Key) != string(w.Key) {
			diffs = append(diffs, "key")
		}
		if h.KeepsHeaders && !sameHeaders(g.Headers, w.Headers) {
			diffs = append(diffs, "headers")
		}
		if h.KeepsTimestamps && g.Timestamp != w.Timestamp {
			diffs = append(diffs, "timestamp")
		}
		if len(diffs) > 0 {
			if errs++; errs <= 10 {
				t.Errorf("record %d read back: %v differ: got %v, want %v", i, diffs, g, w)
			}
		}
	}
	if errs > 10 {
		t.Errorf("... and %d more records differ", errs-10)
	}
}

func (h OutputHarness) testWriteReadBack(t *testing.T) {
	s := h.sink(t, true)
	out := newOutput(t, s, true)
	want := suiteRecords(0, Records)
	recs := toEngine(want)
	out.write(t, recs[:10])
	out.write(t, nil)
	out.write(t, recs[10:11])
	out.write(t, recs[11:])
	out.close(t)
	h.compare(t, want, s.ReadBack(t, len(want)))
}

func (h OutputHarness) testTombstones(t *testing.T) {
	if h.NoTombstones != "" {
		t.Skip(h.NoTombstones)
	}
	s := h.sink(t, true)
	out := newOutput(t, s, true)
	want := suiteRecords(0, 6)
	want[1].Value = nil
	recs := toEngine(want)
	// A value a processor set to nil is a tombstone too.
	recs[4].SetValue(nil)
	want[4].Value = nil
	out.write(t, recs)
	out.close(t)
	h.compare(t, want, s.ReadBack(t, len(want)))
}

func (h OutputHarness) testAsync(t *testing.T) {
	s := h.sink(t, false)
	out := newOutput(t, s, true)
	async, ok := out.Output.(engine.AsyncOutput)
	if !ok {
		t.Skipf("%T does not implement engine.AsyncOutput", out.Output)
	}
	const calls, per = 12, Records / 12
	want := suiteRecords(0, calls*per)
	recs := toEngine(want)
	var mu sync.Mutex
	var order []int
	counts := make([]int, calls)
	allDone := make(chan struct{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for c := range calls {
		within(t, 2*time.Second, fmt.Sprintf("WriteAsync call %d", c), func() {
			async.WriteAsync(ctx, recs[c*per:(c+1)*per], func(err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					t.Errorf("done of WriteAsync call %d: %v", c, err)
				}
				order = append(order, c)
				counts[c]++
				if len(order) == calls {
					close(allDone)
				}
			})
		})
	}
	select {
	case <-allDone:
	case <-time.After(20 * time.Second):
		mu.Lock()
		got := slices.Clone(order)
		mu.Unlock()
		t.Fatalf("done was called %d times for %d WriteAsync calls within 20s: %v", len(got), calls, got)
	}
	// A done called twice may come late.
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	for c, n := range counts {
		if n != 1 {
			t.Errorf("done of WriteAsync call %d was called %d times", c, n)
		}
	}
	for i := 1; i < len(order); i++ {
		if order[i] < order[i-1] {
			t.Errorf("done was called out of order: %v", order)
			break
		}
	}
	mu.Unlock()
	out.close(t)
	if s.ReadBack != nil {
		h.compare(t, want, s.ReadBack(t, len(want)))
	}
}

func (h OutputHarness) testCancelledWrite(t *testing.T) {
	s := h.sink(t, false)
	out := newOutput(t, s, true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	recs := toEngine(suiteRecords(0, 10))
	within(t, 2*time.Second, "Write with a cancelled context", func() {
		if err := safely("Write", func() error { return out.Write(ctx, recs) }); err != nil {
			var p *panicError
			if errors.As(err, &p) {
				t.Error(err)
			}
		}
	})
	if async, ok := out.Output.(engine.AsyncOutput); ok {
		done := make(chan error, 2)
		within(t, 2*time.Second, "WriteAsync with a cancelled context", func() {
			async.WriteAsync(ctx, toEngine(suiteRecords(10, 20)), func(err error) { done <- err })
		})
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			t.Error("WriteAsync with a cancelled context did not call done within 2s")
		}
	}
	out.close(t)
}

func (h OutputHarness) testCloseTwice(t *testing.T) {
	s := h.sink(t, false)
	out := newOutput(t, s, true)
	out.write(t, toEngine(suiteRecords(0, 3)))
	out.close(t)
	out.close(t)
}

func (h OutputHarness) testCloseWithoutStart(t *testing.T) {
	s := h.sink(t, false)
	out := newOutput(t, s, false)
	out.close(t)
	out.close(t)
}

func (h OutputHarness) testWriteAfterClose(t *testing.T) {
	s := h.sink(t, false)
	out := newOutput(t, s, true)
	out.write(t, toEngine(suiteRecords(0, 3)))
	out.close(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var err error
	within(t, 2*time.Second, "Write after Close", func() {
		err = safely("Write after Close", func() error { return out.Write(ctx, toEngine(suiteRecords(3, 6))) })
	})
	if err == nil {
		t.Error("Write after Close returned no error")
	} else if p := (*panicError)(nil); errors.As(err, &p) {
		t.Error(err)
	}
}

func (h OutputHarness) testRejects(t *testing.T) {
	if h.Unwritable == nil {
		t.Skip("the output takes every record (OutputHarness.Unwritable is nil)")
	}
	s := h.sink(t, false)
	out := newOutput(t, s, true)
	all := suiteRecords(0, 8)
	var want []Record
	var recs []*engine.Record
	var wantRejected []int
	for i, e := range toEngine(all) {
		if i%3 == 1 {
			wantRejected = append(wantRejected, len(recs))
			recs = append(recs, h.Unwritable())
		}
		recs = append(recs, e)
		want = append(want, all[i])
	}
	half := len(recs) / 2
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var err error
	within(t, 20*time.Second, "Write", func() {
		err = safely("Write", func() error { return out.Write(ctx, recs[:half]) })
	})
	checkRejected(t, "Write", err, wantRejected, 0, half)
	if async, ok := out.Output.(engine.AsyncOutput); ok {
		done := make(chan error, 1)
		async.WriteAsync(ctx, recs[half:], func(err error) { done <- err })
		select {
		case err = <-done:
		case <-ctx.Done():
			t.Fatal("WriteAsync's done was not called within 20s")
		}
		checkRejected(t, "WriteAsync", err, wantRejected, half, len(recs))
	} else {
		err = safely("Write", func() error { return out.Write(ctx, recs[half:]) })
		checkRejected(t, "Write", err, wantRejected, half, len(recs))
	}
	out.close(t)
	if s.ReadBack != nil {
		h.compare(t, want, s.ReadBack(t, len(want)))
	}
}

// checkRejected wants err to reject exactly the records of want (indexes
// into the whole slice) that lie in [from, to), by their index in the
// write of that range.
func checkRejected(t *testing.T, call string, err error, want []int, from, to int) {
	t.Helper()
	var expected []int
	for _, i := range want {
		if i >= from && i < to {
			expected = append(expected, i-from)
		}
	}
	var rejected *engine.RecordsRejected
	if !errors.As(err, &rejected) {
		t.Fatalf("%s of records with unwritable ones at %v: got %v, want an *engine.RecordsRejected", call, expected, err)
	}
	var got []int
	for _, rj := range rejected.Rejects {
		got = append(got, rj.Index)
		if rj.Err == nil || rj.Err.Error() == "" {
			t.Errorf("%s: record %d rejected without a reason", call, rj.Index)
		}
	}
	if !slices.Equal(got, expected) {
		t.Errorf("%s rejected records %v, want %v", call, got, expected)
	}
}

// UnencodableRecord is a record no JSON codec can write: its value holds
// NaN, as `value.a / value.b` with both zero gives. Outputs that encode
// values as JSON use it as OutputHarness.Unwritable.
func UnencodableRecord() *engine.Record {
	r := engine.NewRecord([]byte(`{"ratio":0}`), engine.JSON)
	r.SetValue(map[string]any{"ratio": math.NaN()})
	return r
}
