package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/engine"
)

// Records is how many records a check puts into a source or writes to an
// output. A harness gives its input a batch size well below it (7, say), so
// that they come in several batches.
const Records = 60

// The input checks, by the names of their subtests.
const (
	// CheckReadBack: a started input reads back exactly the records put,
	// each once, those of one partition in the order they were put; every
	// batch holds records of its one partition and has a position; each
	// record decodes (Record.Value) and is a tombstone exactly when it was
	// put without a value.
	CheckReadBack = "reads_back_what_was_put"
	// CheckPositionsForward: the positions of successive batches of one
	// partition differ, and none of their integer fields decreases.
	CheckPositionsForward = "positions_move_forward"
	// CheckResume: an input resumed (engine.Resumer) from the positions of
	// the batches read up to batch k (the first, the middle one, the last
	// but one; a subtest each), encoded and decoded as the engine stores
	// them (JSON of []engine.Checkpoint), reads every record after them and
	// nothing before, through to the end.
	CheckResume = "resumes_after_a_batch"
	// CheckResumeAtEnd: an input resumed from the positions of its last
	// batches reads nothing.
	CheckResumeAtEnd = "resumes_at_the_end"
	// CheckCancelAtEnd: with everything read, Read with a context
	// cancelled after 100ms returns within 2s after that, with
	// context.Canceled (or io.EOF, from a bounded input).
	CheckCancelAtEnd = "read_returns_when_cancelled_at_the_end"
	// CheckCancelMidStream: with records still to read, Read with a
	// cancelled context returns within 2s (an error, or a batch it had).
	CheckCancelMidStream = "read_returns_when_cancelled_mid_stream"
	// CheckInputCloseTwice: Close of a started input that read, and Close
	// again, return no error and do not panic.
	CheckInputCloseTwice = "close_twice"
	// CheckInputCloseWithoutStart: Close of an input never started, twice,
	// returns no error and does not panic.
	CheckInputCloseWithoutStart = "close_without_start"
	// CheckReadAfterClose: Read after Close does not panic, and returns
	// within 2s.
	CheckReadAfterClose = "read_after_close_does_not_panic"
	// CheckInputTombstones: records put without a value are read as
	// tombstones (Record.IsTombstone; Value is nil, and no error under a
	// JSON codec; Bytes is nil), the others not.
	CheckInputTombstones = "tombstones"
)

// InputHarness tells TestInput how to drive one input.
type InputHarness struct {
	// Source makes a new, empty source for one check (a fresh directory,
	// a new topic) and says how to fill it and read it. Every check makes
	// its own.
	Source func(t *testing.T) InputSource
	// Bounded says that the input ends: once it read everything put, Read
	// returns io.EOF. An unbounded input (Kafka) waits for more instead;
	// the suite then reads until it has what was put, and makes sure
	// nothing more comes.
	Bounded bool
	// NoTombstones says why the source cannot hold a record without a
	// value ("a line of a file is always a value"); the tombstone check is
	// skipped, saying so. Empty: Put takes records whose Value is nil.
	NoTombstones string
	// Timeout bounds reading everything put in a check; 0 is 20s.
	Timeout time.Duration
}

// InputSource is one source of a check, and how to make inputs of it.
type InputSource struct {
	// Put adds recs to the source, in order (a keyed source may spread
	// them over partitions), and returns them as the input reads them
	// back: nil when that is as they were put; a source keeping values
	// alone returns ValuesOnly(recs), a CSV file objects, a generator of
	// its own events (nexmark) the events it makes instead. The suite
	// calls it once per source, before New, and gives it values that are
	// valid JSON; when NoTombstones is empty some of them may have no
	// value.
	Put func(t *testing.T, recs []Record) []Record
	// New builds a fresh input reading the source, as the plugin's New
	// does: not started. The suite calls it more than once per source
	// (resuming), and closes every input it started.
	New func(t *testing.T) engine.Input
}

func (h InputHarness) timeout() time.Duration {
	if h.Timeout > 0 {
		return h.Timeout
	}
	return 20 * time.Second
}

// TestInput runs every input check against the input h drives, each as a
// subtest of t named by its Check* constant.
func TestInput(t *testing.T, h InputHarness) {
	t.Helper()
	if h.Source == nil {
		t.Fatal("conformance: InputHarness.Source is nil")
	}
	check(t, CheckReadBack, h.testReadBack)
	check(t, CheckPositionsForward, h.testPositionsForward)
	check(t, CheckResume, h.testResume)
	check(t, CheckResumeAtEnd, h.testResumeAtEnd)
	check(t, CheckCancelAtEnd, h.testCancelAtEnd)
	check(t, CheckCancelMidStream, h.testCancelMidStream)
	check(t, CheckInputCloseTwice, h.testCloseTwice)
	check(t, CheckInputCloseWithoutStart, h.testCloseWithoutStart)
	check(t, CheckReadAfterClose, h.testReadAfterClose)
	check(t, CheckInputTombstones, h.testTombstones)
}

// source makes a source of the harness and puts recs into it, returning
// the source and the records as the input reads them.
func (h InputHarness) source(t *testing.T, recs []Record) (InputSource, []Record) {
	t.Helper()
	s := h.Source(t)
	if s.Put == nil || s.New == nil {
		t.Fatal("conformance: an InputSource needs Put and New")
	}
	want := s.Put(t, recs)
	if want == nil {
		want = recs
	}
	if len(want) != len(recs) {
		t.Fatalf("conformance: Put was given %d records and returned %d", len(recs), len(want))
	}
	return s, want
}

// liveInput is an input a check built; the check's cleanup closes it
// unless the check did.
type liveInput struct {
	engine.Input
	closed bool
}

// newInput builds an input of s; resume (when not nil) is handed to its
// Resume, as the engine does, before it starts when start is set.
func newInput(t *testing.T, s InputSource, start bool, resume []engine.Checkpoint) *liveInput {
	t.Helper()
	in := &liveInput{Input: s.New(t)}
	t.Cleanup(func() {
		if !in.closed {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = safely("Close", func() error { return in.Input.Close(ctx) })
		}
	})
	if resume != nil {
		r, ok := in.Input.(engine.Resumer)
		if !ok {
			t.Fatalf("%T does not implement engine.Resumer", in.Input)
		}
		if err := safely("Resume", func() error { return r.Resume(resume) }); err != nil {
			t.Fatalf("Resume(%s): %v", checkpointsString(resume), err)
		}
	}
	if start {
		if s, ok := in.Input.(engine.Starter); ok {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := safely("Start", func() error { return s.Start(ctx) }); err != nil {
				t.Fatalf("Start: %v", err)
			}
		}
	}
	return in
}

// close closes the input, failing the test on an error or a panic.
func (in *liveInput) close(t *testing.T) {
	t.Helper()
	in.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := safely("Close", func() error { return in.Input.Close(ctx) }); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// readAll reads everything: to io.EOF from a bounded input; from an
// unbounded one until n records came, and then for a while more, to see
// that nothing more does. Batches without records are left out.
func (h InputHarness) readAll(t *testing.T, in engine.Input, n int) []engine.InputBatch {
	t.Helper()
	batches, count := h.readUpTo(t, in, n, h.Bounded)
	if h.Bounded {
		return batches
	}
	// Nothing more may come: a quiet Read is the last one (an input is not
	// read again after a Read whose context ended, as the engine never does).
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	for {
		b, err := readBatch(t, in, ctx)
		if len(b.Records) > 0 {
			t.Errorf("read %d records more after the %d put", len(b.Records), count)
			batches = append(batches, b)
		}
		if err != nil {
			if ctx.Err() == nil {
				t.Fatalf("Read, waiting for records that do not come: %v", err)
			}
			return batches
		}
	}
}

// readUpTo reads until n records came, or with toEOF set until io.EOF; it
// fails the test on any other error, and when it takes longer than the
// harness's timeout.
func (h InputHarness) readUpTo(t *testing.T, in engine.Input, n int, toEOF bool) ([]engine.InputBatch, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout())
	defer cancel()
	var batches []engine.InputBatch
	count := 0
	for toEOF || count < n {
		b, err := readBatch(t, in, ctx)
		if len(b.Records) > 0 {
			if err != nil {
				t.Errorf("Read returned %d records and the error %v", len(b.Records), err)
			}
			batches = append(batches, b)
			count += len(b.Records)
		}
		switch {
		case err == nil:
		case toEOF && errors.Is(err, io.EOF):
			return batches, count
		case errors.Is(err, io.EOF) && !h.Bounded:
			t.Fatalf("an unbounded input returned io.EOF after %d of %d records", count, n)
		case ctx.Err() != nil && toEOF:
			t.Fatalf("a bounded input read %d of %d records and no io.EOF within %v: %v", count, n, h.timeout(), err)
		case ctx.Err() != nil:
			t.Fatalf("read %d of %d records within %v: %v", count, n, h.timeout(), err)
		default:
			t.Fatalf("Read, after %d of %d records: %v", count, n, err)
		}
	}
	return batches, count
}

// readBatch is one Read, which must return within 2s once ctx ended; a
// panic is an error.
func readBatch(t *testing.T, in engine.Input, ctx context.Context) (engine.InputBatch, error) {
	t.Helper()
	type result struct {
		b   engine.InputBatch
		err error
	}
	ch := make(chan result, 1)
	go func() {
		var r result
		r.err = safely("Read", func() error {
			var err error
			r.b, err = in.Read(ctx)
			return err
		})
		ch <- r
	}()
	select {
	case r := <-ch:
		return r.b, r.err
	case <-ctx.Done():
	}
	select {
	case r := <-ch:
		return r.b, r.err
	case <-time.After(2 * time.Second):
		t.Fatalf("Read did not return within 2s after its context ended (%v)", context.Cause(ctx))
		return engine.InputBatch{}, nil
	}
}

// identity names a record by its key and value (which the suite makes
// unique, but for tombstones).
func identity(r Record) string {
	return fmt.Sprintf("%q %q %t", r.Key, r.Value, r.Value == nil)
}

// readRecord is what the suite compares of a record read.
func readRecord(t *testing.T, r *engine.Record) Record {
	t.Helper()
	if _, err := r.Value(); err != nil {
		t.Errorf("%s: Value: %v", r.Describe(), err)
	}
	v, err := r.Bytes()
	if err != nil {
		t.Errorf("%s: Bytes: %v", r.Describe(), err)
	}
	return Record{Key: r.Key, Value: v, Headers: r.Headers}
}

// match checks batches against want: each record read was put (it is
// want[i]), and read once; those of a partition in the order put; every
// batch of one partition and with a position. expect lists the indices of
// want to be read (nil: all of them): one read that is not listed was read
// again, one listed that was not read was lost. It returns what each
// partition read, as indices of want in read order.
func match(t *testing.T, want []Record, expect []int, batches []engine.InputBatch) map[string][]int {
	t.Helper()
	// Records alike (tombstones of a source without keys) are told apart
	// by their order: a record read is the first of its likes not read yet.
	index := make(map[string][]int, len(want))
	for i, r := range want {
		id := identity(r)
		index[id] = append(index[id], i)
	}
	expected := make([]bool, len(want))
	if expect == nil {
		for i := range expected {
			expected[i] = true
		}
	}
	for _, i := range expect {
		expected[i] = true
	}
	errs := 0
	errorf := func(format string, args ...any) {
		t.Helper()
		if errs++; errs <= 10 {
			t.Errorf(format, args...)
		}
	}
	seen := make([]bool, len(want))
	parts := map[string][]int{}
	for bi, b := range batches {
		if b.Partition == "" {
			errorf("batch %d has no partition", bi)
		}
		if b.Position.IsZero() {
			errorf("batch %d (of %s, %d records) has no position", bi, b.Partition, len(b.Records))
		}
		for _, r := range b.Records {
			if r.Source == nil || r.Source.Partition != b.Partition {
				errorf("batch %d of partition %q holds %s, of another partition (its Source is %+v)", bi, b.Partition, r.Describe(), r.Source)
			}
			got := readRecord(t, r)
			alike := index[identity(got)]
			i := slices.IndexFunc(alike, func(i int) bool { return !seen[i] && expected[i] })
			if i < 0 {
				i = slices.IndexFunc(alike, func(i int) bool { return !seen[i] })
			}
			switch {
			case len(alike) == 0:
				errorf("batch %d of %s: read %v, which was not put", bi, b.Partition, got)
				continue
			case i < 0:
				errorf("batch %d of %s: read %v twice", bi, b.Partition, got)
				continue
			}
			i = alike[i]
			if !expected[i] {
				errorf("batch %d of %s: read %v again, which comes before the position resumed from", bi, b.Partition, got)
			}
			seen[i] = true
			if !sameHeaders(got.Headers, want[i].Headers) {
				errorf("%s: headers %v, want %v", r.Describe(), got.Headers, want[i].Headers)
			}
			if r.IsTombstone() != (want[i].Value == nil) {
				errorf("%s: IsTombstone is %t, and its value was put as %v", r.Describe(), r.IsTombstone(), want[i])
			}
			parts[b.Partition] = append(parts[b.Partition], i)
		}
	}
	for i, r := range want {
		if expected[i] && !seen[i] {
			errorf("record %d %v was put and never read", i, r)
		}
	}
	for p, read := range parts {
		for j := 1; j < len(read); j++ {
			if read[j] < read[j-1] {
				errorf("partition %s read %v after %v: not in the order put", p, want[read[j]], want[read[j-1]])
			}
		}
	}
	if errs > 10 {
		t.Errorf("... and %d more errors", errs-10)
	}
	return parts
}

func (h InputHarness) testReadBack(t *testing.T) {
	s, want := h.source(t, suiteRecords(0, Records))
	in := newInput(t, s, true, nil)
	batches := h.readAll(t, in, len(want))
	in.close(t)
	match(t, want, nil, batches)
}

func (h InputHarness) testPositionsForward(t *testing.T) {
	s, want := h.source(t, suiteRecords(0, Records))
	in := newInput(t, s, true, nil)
	batches := h.readAll(t, in, len(want))
	in.close(t)
	last := map[string]engine.Position{}
	for bi, b := range batches {
		prev, ok := last[b.Partition]
		last[b.Partition] = b.Position
		if !ok {
			continue
		}
		if prev.Equal(b.Position) {
			t.Errorf("batch %d of %s ends at %s, as the batch before it does: resuming from there cannot tell them apart", bi, b.Partition, b.Position)
		}
		before, err := fieldsOf(prev)
		if err != nil {
			t.Fatal(err)
		}
		after, err := fieldsOf(b.Position)
		if err != nil {
			t.Fatal(err)
		}
		if name, back := movedBack(before, after); back {
			t.Errorf("partition %s: the position moved back from %s to %s (batch %d): %q decreased", b.Partition, prev, b.Position, bi, name)
		}
	}
}

// movedBack compares two positions field by field in order, as a
// composite key: a later field may start again once an earlier one moved
// on (a binlog offset within a file, a change count within a
// transaction). A string field that changed cannot be ordered, and ends
// the comparison.
func movedBack(before, after []positionField) (string, bool) {
	for _, f := range before {
		i := slices.IndexFunc(after, func(g positionField) bool { return g.name == f.name })
		if i < 0 {
			return "", false
		}
		g := after[i]
		switch {
		case f.isStr || g.isStr:
			if f.isStr != g.isStr || f.str != g.str {
				return "", false
			}
		case g.num < f.num:
			return f.name, true
		case g.num > f.num:
			return "", false
		}
	}
	return "", false
}

// checkpointsAt are the checkpoints of the batches up to k (the engine's
// commit once those were written): per partition, the position of its last
// batch, and how many of its records they hold. The checkpoints are encoded
// and decoded as the engine stores them.
func checkpointsAt(t *testing.T, batches []engine.InputBatch, k int) ([]engine.Checkpoint, map[string]int) {
	t.Helper()
	counts := map[string]int{}
	var cps []engine.Checkpoint
	at := map[string]int{}
	for _, b := range batches[:k] {
		counts[b.Partition] += len(b.Records)
		if i, ok := at[b.Partition]; ok {
			cps[i].Position = b.Position
			continue
		}
		at[b.Partition] = len(cps)
		cps = append(cps, engine.Checkpoint{Partition: b.Partition, Position: b.Position})
	}
	data, err := json.Marshal(cps)
	if err != nil {
		t.Fatal(err)
	}
	var decoded []engine.Checkpoint
	if err := json.Unmarshal(data, &decoded); err != nil {
		t.Fatalf("the checkpoints %s do not decode: %v", data, err)
	}
	return decoded, counts
}

func checkpointsString(cps []engine.Checkpoint) string {
	b, _ := json.Marshal(cps)
	return string(b)
}

func (h InputHarness) skipUnlessResumer(t *testing.T, s InputSource) {
	t.Helper()
	in := s.New(t)
	defer in.Close(context.Background())
	if _, ok := in.(engine.Resumer); !ok {
		t.Skipf("%T does not implement engine.Resumer: it cannot resume", in)
	}
}

// readForResume reads a source to its end with a first input, for the
// resume checks: its batches and what each partition read.
func (h InputHarness) readForResume(t *testing.T) (InputSource, []Record, []engine.InputBatch, map[string][]int) {
	t.Helper()
	s, want := h.source(t, suiteRecords(0, Records))
	h.skipUnlessResumer(t, s)
	first := newInput(t, s, true, nil)
	batches := h.readAll(t, first, len(want))
	first.close(t)
	parts := match(t, want, nil, batches)
	if t.Failed() {
		t.FailNow()
	}
	if len(batches) < 3 {
		t.Fatalf("conformance: the %d records came in %d batches: give the input a smaller batch size", len(want), len(batches))
	}
	return s, want, batches, parts
}

func (h InputHarness) testResume(t *testing.T) {
	s, want, batches, parts := h.readForResume(t)
	// After the first batch, the middle one, and the last but one: in the
	// middle of a partition, and (for a source that reads its partitions
	// one after the other) perhaps at the end of one.
	ks := []int{1, len(batches) / 2, len(batches) - 1}
	for _, k := range slices.Compact(ks) {
		t.Run(fmt.Sprintf("after_batch_%d_of_%d", k, len(batches)), func(t *testing.T) {
			h.resumeAfter(t, s, want, batches, parts, k)
		})
	}
}

func (h InputHarness) testResumeAtEnd(t *testing.T) {
	s, want, batches, parts := h.readForResume(t)
	h.resumeAfter(t, s, want, batches, parts, len(batches))
}

// resumeAfter resumes a fresh input of s from the checkpoints of
// batches[:k] and wants it to read every record after them, in order, and
// nothing before them.
func (h InputHarness) resumeAfter(t *testing.T, s InputSource, want []Record, batches []engine.InputBatch, parts map[string][]int, k int) {
	t.Helper()
	cps, counts := checkpointsAt(t, batches, k)
	expect := []int{}
	for p, read := range parts {
		expect = append(expect, read[counts[p]:]...)
	}
	t.Logf("resuming after batch %d of %d from %s", k, len(batches), checkpointsString(cps))
	resumed := newInput(t, s, true, cps)
	rest := h.readAll(t, resumed, len(expect))
	resumed.close(t)
	restParts := match(t, want, expect, rest)
	for p, read := range parts {
		wantRest, got := read[counts[p]:], restParts[p]
		if slices.Equal(got, wantRest) {
			continue
		}
		switch {
		case len(got) == 0:
			t.Errorf("partition %s: nothing read after resuming, want %d records from %v on", p, len(wantRest), want[wantRest[0]])
		case len(wantRest) == 0:
			t.Errorf("partition %s: %d records read after resuming from its last position, want none (the first %v)", p, len(got), want[got[0]])
		case got[0] != wantRest[0]:
			t.Errorf("partition %s: the first record read after resuming is %v, want %v (the one after batch %d)", p, want[got[0]], want[wantRest[0]], k)
		default:
			t.Errorf("partition %s: %d records read after resuming, want %d", p, len(got), len(wantRest))
		}
	}
}

// readWithin reads until an error, with ctx, and fails the test when that
// takes longer than limit. It returns how many records it read, and the
// error.
func readWithin(t *testing.T, in engine.Input, ctx context.Context, limit time.Duration, what string) (int, error) {
	t.Helper()
	var err error
	records := 0
	within(t, limit, what, func() {
		err = safely("Read", func() error {
			for {
				b, err := in.Read(ctx)
				records += len(b.Records)
				if err != nil {
					return err
				}
			}
		})
	})
	return records, err
}

func (h InputHarness) testCancelAtEnd(t *testing.T) {
	s, want := h.source(t, suiteRecords(0, Records))
	in := newInput(t, s, true, nil)
	// Everything put, but no io.EOF yet: the Read below is the one that
	// finds nothing more.
	h.readUpTo(t, in, len(want), false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(100*time.Millisecond, cancel)
	extra, err := readWithin(t, in, ctx, 100*time.Millisecond+2*time.Second, "Read with a context cancelled after 100ms")
	if extra > 0 {
		t.Errorf("read %d records more than the %d put", extra, len(want))
	}
	switch {
	case errors.Is(err, context.Canceled):
	case errors.Is(err, io.EOF) && h.Bounded:
	case errors.Is(err, io.EOF):
		t.Errorf("an unbounded input returned io.EOF")
	default:
		t.Errorf("Read with a cancelled context: %v, want context.Canceled (or io.EOF at the end of a bounded input)", err)
	}
	in.close(t)
}

func (h InputHarness) testCancelMidStream(t *testing.T) {
	s, _ := h.source(t, suiteRecords(0, Records))
	in := newInput(t, s, true, nil)
	h.readUpTo(t, in, 1, false)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	within(t, 2*time.Second, "Read with a cancelled context", func() {
		if err := safely("Read", func() error { _, err := in.Read(ctx); return err }); err != nil {
			var p *panicError
			if errors.As(err, &p) {
				t.Error(err)
			}
		}
	})
	in.close(t)
}

func (h InputHarness) testCloseTwice(t *testing.T) {
	s, _ := h.source(t, suiteRecords(0, Records))
	in := newInput(t, s, true, nil)
	h.readUpTo(t, in, 1, false)
	in.close(t)
	in.close(t)
}

func (h InputHarness) testCloseWithoutStart(t *testing.T) {
	s, _ := h.source(t, suiteRecords(0, Records))
	in := newInput(t, s, false, nil)
	in.close(t)
	in.close(t)
}

func (h InputHarness) testReadAfterClose(t *testing.T) {
	s, _ := h.source(t, suiteRecords(0, Records))
	in := newInput(t, s, true, nil)
	h.readUpTo(t, in, 1, false)
	in.close(t)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	within(t, 2*time.Second+500*time.Millisecond, "Read after Close", func() {
		err := safely("Read after Close", func() error { _, err := in.Read(ctx); return err })
		var p *panicError
		if errors.As(err, &p) {
			t.Error(err)
		}
	})
}

func (h InputHarness) testTombstones(t *testing.T) {
	if h.NoTombstones != "" {
		t.Skipf("the source cannot hold a record without a value: %s", h.NoTombstones)
	}
	recs := suiteRecords(0, Records)
	put := 0
	for i := 3; i < len(recs); i += 10 {
		recs[i].Value = nil
		put++
	}
	s, want := h.source(t, recs)
	for i := range recs {
		if (want[i].Value == nil) != (recs[i].Value == nil) {
			t.Fatalf("conformance: Put was given %v and says it reads back %v", recs[i], want[i])
		}
	}
	in := newInput(t, s, true, nil)
	batches := h.readAll(t, in, len(want))
	in.close(t)
	match(t, want, nil, batches)
	tombstones := 0
	for _, b := range batches {
		for _, r := range b.Records {
			if !r.IsTombstone() {
				continue
			}
			tombstones++
			if v, err := r.Value(); v != nil || err != nil {
				t.Errorf("%s: a tombstone's Value is %v, %v; want nil, no error", r.Describe(), v, err)
			}
			if b, err := r.Bytes(); b != nil || err != nil {
				t.Errorf("%s: a tombstone's Bytes are %q, %v; want nil, no error", r.Describe(), b, err)
			}
		}
	}
	if tombstones != put {
		t.Errorf("%d tombstones read, want %d", tombstones, put)
	}
}
