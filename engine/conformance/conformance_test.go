package conformance

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/engine"
)

// The suite is tested on fakes: an input and an output that keep the
// contract pass every check, and each of a list of bugs put into them
// fails the check meant to catch it.

// bugEnv names the bug TestFakes puts into its fakes, when set.
const bugEnv = "CONFORMANCE_FAKE_BUG"

func bug(name string) bool { return os.Getenv(bugEnv) == name }

// fakeSource holds the records of two partitions, p0 (even) and p1 (odd).
type fakeSource struct {
	parts [2][]Record
}

// fakeInput reads p0 to its end, then p1, in batches of up to 4 records;
// its position is {"offset": the records of the partition read}.
type fakeInput struct {
	src       *fakeSource
	unbounded bool
	next      [2]int
	part      int
	started   bool
	closed    bool
	srcs      [2]*engine.Source
}

func (in *fakeInput) Start(context.Context) error {
	in.started = true
	for i := range in.srcs {
		in.srcs[i] = &engine.Source{Input: "fake", Partition: partName(i)}
	}
	return nil
}

func partName(i int) string { return []string{"p0", "p1"}[i] }

func (in *fakeInput) Resume(cps []engine.Checkpoint) error {
	for _, cp := range cps {
		off, err := cp.Position.Int("offset")
		if err != nil {
			return err
		}
		if bug("resume_repeats") && off > 0 {
			off--
		}
		if bug("resume_skips") {
			off++
		}
		in.next[map[string]int{"p0": 0, "p1": 1}[cp.Partition]] = int(off)
	}
	return nil
}

func (in *fakeInput) Read(ctx context.Context) (engine.InputBatch, error) {
	if in.closed {
		if bug("read_after_close_panics") {
			panic("closed")
		}
		return engine.InputBatch{}, errors.New("closed")
	}
	if err := ctx.Err(); err != nil {
		if bug("slow_to_cancel") {
			time.Sleep(2500 * time.Millisecond)
		}
		return engine.InputBatch{}, err
	}
	for in.part < 2 && in.next[in.part] >= len(in.src.parts[in.part]) {
		in.part++
	}
	if in.part == 2 && in.unbounded {
		if bug("blocks_at_end") {
			select {} // never returns
		}
		<-ctx.Done()
		return engine.InputBatch{}, ctx.Err()
	}
	if in.part == 2 {
		return engine.InputBatch{}, io.EOF
	}
	p := in.part
	recs := in.src.parts[p][in.next[p]:min(in.next[p]+4, len(in.src.parts[p]))]
	b := engine.InputBatch{Partition: partName(p)}
	for i, r := range recs {
		if bug("reorders") && i == 0 && len(recs) > 1 {
			r = recs[1]
		} else if bug("reorders") && i == 1 {
			r = recs[0]
		}
		e := engine.NewRecord(r.Value, engine.JSON)
		if bug("tombstone_as_empty") && r.Value == nil {
			e = engine.NewRecord([]byte{}, engine.JSON)
		}
		e.SetKeyFromInput(r.Key)
		e.Headers = r.Headers
		e.Source = in.srcs[p]
		if bug("wrong_partition") && i == 2 {
			e.Source = in.srcs[1-p]
		}
		b.Records = append(b.Records, e)
	}
	in.next[p] += len(recs)
	switch {
	case bug("no_position"):
	case bug("position_stands_still"):
		b.Position = engine.IntPosition("offset", 0)
	default:
		b.Position = engine.IntPosition("offset", int64(in.next[p]))
	}
	return b, nil
}

func (in *fakeInput) Close(context.Context) error {
	if in.closed && bug("close_twice_fails") {
		return errors.New("closed twice")
	}
	in.closed = true
	return nil
}

func fakeInputHarness(unbounded bool) InputHarness {
	return InputHarness{
		Bounded: !unbounded,
		Source: func(t *testing.T) InputSource {
			src := &fakeSource{}
			return InputSource{
				Put: func(t *testing.T, recs []Record) []Record {
					for i, r := range recs {
						if bug("loses_a_record") && i == 17 {
							continue
						}
						src.parts[i%2] = append(src.parts[i%2], r)
					}
					return nil
				},
				New: func(t *testing.T) engine.Input { return &fakeInput{src: src, unbounded: unbounded} },
			}
		},
	}
}

// fakeSink is what a fakeOutput wrote.
type fakeSink struct {
	mu   sync.Mutex
	recs []Record
}

// fakeOutput writes to a fakeSink, asynchronously: a goroutine takes the
// calls in order.
type fakeOutput struct {
	sink   *fakeSink
	calls  chan func()
	wg     sync.WaitGroup
	closed bool
}

func (o *fakeOutput) Start(context.Context) error {
	o.calls = make(chan func(), 16)
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		for f := range o.calls {
			f()
		}
	}()
	return nil
}

func (o *fakeOutput) Write(ctx context.Context, records []*engine.Record) error {
	done := make(chan error, 2)
	o.WriteAsync(ctx, records, func(err error) { done <- err })
	return <-done
}

func (o *fakeOutput) WriteAsync(_ context.Context, records []*engine.Record, done func(error)) {
	if o.closed {
		if bug("write_after_close_succeeds") {
			done(nil)
			return
		}
		done(errors.New("closed"))
		return
	}
	o.calls <- func() {
		o.sink.mu.Lock()
		rejected := &engine.RecordsRejected{}
		for i, r := range records {
			if bug("drops_headers") && i == 1 {
				r.Headers = nil
			}
			v, _ := r.Bytes()
			if string(v) == unwritableValue {
				if bug("fails_whole_write") {
					o.sink.mu.Unlock()
					done(errors.New("cannot write " + unwritableValue))
					return
				}
				if !bug("writes_unwritable") {
					rejected.Reject(i, errors.New("cannot write "+unwritableValue))
					continue
				}
			}
			if bug("tombstone_as_empty") && v == nil {
				v = []byte{}
			}
			o.sink.recs = append(o.sink.recs, Record{Key: r.Key, Value: v, Headers: r.Headers, Timestamp: r.Timestamp})
		}
		o.sink.mu.Unlock()
		done(rejected.OrNil())
		if bug("done_twice") {
			done(nil)
		}
	}
}

func (o *fakeOutput) Close(context.Context) error {
	if o.closed {
		if bug("close_twice_fails") {
			return errors.New("closed twice")
		}
		return nil
	}
	o.closed = true
	if o.calls != nil {
		close(o.calls)
		o.wg.Wait()
	}
	return nil
}

// unwritableValue is the value the fake output rejects.
const unwritableValue = `"unwritable"`

func fakeOutputHarness() OutputHarness {
	return OutputHarness{
		KeepsKeys: true, KeepsHeaders: true, KeepsTimestamps: true,
		Unwritable: func() *engine.Record { return engine.NewRecord([]byte(unwritableValue), engine.JSON) },
		Sink: func(t *testing.T) OutputSink {
			sink := &fakeSink{}
			return OutputSink{
				New: func(t *testing.T) engine.Output { return &fakeOutput{sink: sink} },
				ReadBack: func(t *testing.T, n int) []Record {
					sink.mu.Lock()
					defer sink.mu.Unlock()
					return append([]Record(nil), sink.recs...)
				},
			}
		},
	}
}

// TestFakes runs the suite on the fakes, with the bug CONFORMANCE_FAKE_BUG
// names, if any.
func TestFakes(t *testing.T) {
	t.Run("input", func(t *testing.T) { TestInput(t, fakeInputHarness(false)) })
	t.Run("input_unbounded", func(t *testing.T) { TestInput(t, fakeInputHarness(true)) })
	t.Run("output", func(t *testing.T) { TestOutput(t, fakeOutputHarness()) })
}

// TestSuiteCatchesBugs runs the check meant to catch each bug on the fakes
// with it, in a process of its own, and wants the check to fail.
func TestSuiteCatchesBugs(t *testing.T) {
	if os.Getenv(bugEnv) != "" {
		t.Skip("running the fakes")
	}
	for bug, check := range map[string]string{
		"loses_a_record":             "input/" + CheckReadBack,
		"reorders":                   "input/" + CheckReadBack,
		"wrong_partition":            "input/" + CheckReadBack,
		"no_position":                "input/" + CheckReadBack,
		"position_stands_still":      "input/" + CheckPositionsForward,
		"resume_repeats":             "input/" + CheckResume,
		"resume_skips":               "input/" + CheckResume,
		"slow_to_cancel":             "input/" + CheckCancelMidStream,
		"blocks_at_end":              "input_unbounded/" + CheckCancelAtEnd,
		"read_after_close_panics":    "input/" + CheckReadAfterClose,
		"tombstone_as_empty":         "input/" + CheckInputTombstones,
		"close_twice_fails":          "output/" + CheckOutputCloseTwice,
		"drops_headers":              "output/" + CheckWriteReadBack,
		"done_twice":                 "output/" + CheckAsync,
		"write_after_close_succeeds": "output/" + CheckWriteAfterClose,
		"fails_whole_write":          "output/" + CheckRejectsSingleRecords,
		"writes_unwritable":          "output/" + CheckRejectsSingleRecords,
	} {
		t.Run(bug, func(t *testing.T) {
			run := "^TestFakes$"
			for _, part := range strings.Split(check, "/") {
				run += "/^" + part + "$"
			}
			cmd := exec.Command(os.Args[0], "-test.run="+run, "-test.v")
			cmd.Env = append(os.Environ(), bugEnv+"="+bug)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed the fakes with the bug %s:\n%s", bug, out)
			}
			if !strings.Contains(string(out), "--- FAIL: TestFakes/"+check+" ") {
				t.Errorf("the bug %s did not fail %s:\n%s", bug, check, out)
			}
		})
	}
}

// TestMovedBack: positions compare as composite keys, field by field in
// order; a later field may start again once an earlier one moved on.
func TestMovedBack(t *testing.T) {
	pos := func(file string, offset, events int64) []positionField {
		f, err := fieldsOf(engine.Position{}.WithString("file", file).WithInt("pos", offset).WithInt("events", events))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	for _, c := range []struct {
		before, after []positionField
		back          string
	}{
		{pos("b.1", 100, 5), pos("b.1", 200, 0), ""},
		{pos("b.1", 100, 5), pos("b.1", 100, 7), ""},
		{pos("b.1", 100, 5), pos("b.1", 100, 4), "events"},
		{pos("b.1", 100, 5), pos("b.1", 90, 9), "pos"},
		{pos("b.1", 900, 5), pos("b.2", 4, 0), ""},
	} {
		if name, back := movedBack(c.before, c.after); name != c.back || back != (c.back != "") {
			t.Errorf("%v → %v: moved back %q %v, want %q", c.before, c.after, name, back, c.back)
		}
	}
}
