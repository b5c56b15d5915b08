package engine

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/config"
)

func rejectsBad(v string) bool { return strings.Contains(v, "bad") }

func TestRejectedRecordsGoToDeadLetterAndTheRestIsWritten(t *testing.T) {
	f := newFixture(&testInput{batches: [][]string{{`1`, `"bad a"`, `3`}, {`"bad b"`}, {`5`}}})
	f.outs["main"] = &testOutput{reject: rejectsBad}
	p := f.build(t, `
input: {scripted: {}}
output: {collect: {name: main}}
on_error: dead_letter
dead_letter: {collect: {name: dlq}}
`)
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(f.outs["main"].values(), ","), "1,3,5"; got != want {
		t.Fatalf("main output %q, want %q", got, want)
	}
	dlq := f.outs["dlq"]
	if got, want := strings.Join(dlq.values(), "|"), `"bad a"|"bad b"`; got != want {
		t.Fatalf("dead letters %q, want %q", got, want)
	}
	h := dlq.headers[0]
	if h["error_component"] != "output" || h["error_source"] != "record at p:1" || h["error"] != `cannot take "bad a"` {
		t.Fatalf("dead-letter headers %v", h)
	}
	if got := f.outs["main"].writes.Load(); got != 3 {
		t.Fatalf("a write with rejections is not retried: %d writes for 3 batches", got)
	}
	if f.in.lastCommit() != "3" {
		t.Fatalf("every record was written or dead-lettered: position 3 must be committed, got %q", f.in.lastCommit())
	}
}

func TestRejectedRecordUnderStopFailsWithoutCommitting(t *testing.T) {
	f := newFixture(&testInput{batches: [][]string{{`1`}, {`2`, `"bad"`}, {`4`}}})
	f.outs["main"] = &testOutput{reject: rejectsBad}
	p := f.build(t, `
input: {scripted: {}}
output: {collect: {name: main}}
commit_interval: 1h
`)
	f.mustFailCommitting(t, p, `output: record at p:101: cannot take "bad"`, "1")
}

func TestDeadLetterOutputRejectingStops(t *testing.T) {
	f := newFixture(&testInput{batches: [][]string{{`1`}, {`"bad"`}}})
	f.outs["main"] = &testOutput{reject: rejectsBad}
	f.outs["dlq"] = &testOutput{reject: func(string) bool { return true }}
	p := f.build(t, `
input: {scripted: {}}
output: {collect: {name: main}}
on_error: dead_letter
dead_letter: {collect: {name: dlq}}
commit_interval: 1h
`)
	f.mustFailCommitting(t, p, "the dead-letter output rejected a record: dead_letter: record at p:100:", "1")
}

func TestOutputRejectingRecordsItWasNotHandedFails(t *testing.T) {
	f := newFixture(&testInput{batches: [][]string{{`1`}}})
	f.reg.AddOutput(OutputPlugin{Spec: config.Spec{Name: "liar"}, New: func(*config.Parsed, *Resources) (Output, error) {
		return &funcOutput{write: func([]*Record) error {
			return (&RecordsRejected{Rejects: []Rejection{{Index: 7, Err: fmt.Errorf("x")}}}).OrNil()
		}}, nil
	}})
	p := f.build(t, `
input: {scripted: {}}
output: {liar: {}}
on_error: dead_letter
dead_letter: {collect: {name: dlq}}
output_retry: {max_retries: 0}
`)
	f.mustFailCommitting(t, p, "output rejected records it was not handed, or without a reason (indexes 7 of 1)", "")
}

type funcOutput struct{ write func([]*Record) error }

func (o *funcOutput) Write(_ context.Context, recs []*Record) error { return o.write(recs) }
func (o *funcOutput) Close(context.Context) error                   { return nil }

// sharedProducer is what outputs writing through one Kafka client share:
// a buffer of at most max records, freed only once their callback has
// returned, and callbacks run one at a time on one goroutine.
type sharedProducer struct {
	mu       sync.Mutex
	room     *sync.Cond
	buffered int
	max      int
	promises chan func()
	done     chan struct{}
}

func newSharedProducer(max int) *sharedProducer {
	p := &sharedProducer{max: max, promises: make(chan func(), 1000), done: make(chan struct{})}
	p.room = sync.NewCond(&p.mu)
	go func() {
		defer close(p.done)
		for promise := range p.promises {
			promise()
		}
	}()
	return p
}

// produce blocks while the buffer is full, as kgo.Client.Produce does.
func (p *sharedProducer) produce(n int, promise func()) {
	p.mu.Lock()
	for p.buffered+n > p.max {
		p.room.Wait()
	}
	p.buffered += n
	p.mu.Unlock()
	p.promises <- func() {
		promise()
		p.mu.Lock()
		p.buffered -= n
		p.room.Broadcast()
		p.mu.Unlock()
	}
}

func (p *sharedProducer) close() { close(p.promises); <-p.done }

// asyncRejecter writes through a sharedProducer, rejecting the values
// rejectsBad picks.
type asyncRejecter struct {
	producer *sharedProducer
	takesAll bool
	mu       sync.Mutex
	got      []string
}

func (o *asyncRejecter) Write(ctx context.Context, recs []*Record) error {
	done := make(chan error, 1)
	o.WriteAsync(ctx, recs, func(err error) { done <- err })
	return <-done
}

func (o *asyncRejecter) WriteAsync(_ context.Context, recs []*Record, done func(error)) {
	rejected := &RecordsRejected{}
	var good []string
	for i, r := range recs {
		b, _ := r.Bytes()
		if !o.takesAll && rejectsBad(string(b)) {
			rejected.Reject(i, fmt.Errorf("cannot take %s", b))
			continue
		}
		good = append(good, string(b))
	}
	o.producer.produce(len(recs), func() {
		o.mu.Lock()
		o.got = append(o.got, good...)
		o.mu.Unlock()
		done(rejected.OrNil())
	})
}

func (o *asyncRejecter) Close(context.Context) error { return nil }

func (o *asyncRejecter) values() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.got...)
}

// Rejections reported from a producer's callback reach the dead-letter
// output without blocking that callback, even when the dead-letter output
// writes through the same producer (one Kafka client under exactly-once)
// and its writes wait for the callbacks to free the buffer.
func TestAsyncRejectionsDoNotBlockTheCallback(t *testing.T) {
	var batches [][]string
	for i := range 300 {
		batches = append(batches, []string{fmt.Sprintf(`"bad %d"`, i), fmt.Sprintf(`%d`, i)})
	}
	f := newFixture(&testInput{batches: batches})
	producer := newSharedProducer(4)
	defer producer.close()
	main, dlq := &asyncRejecter{producer: producer}, &asyncRejecter{producer: producer, takesAll: true}
	f.reg.AddOutput(OutputPlugin{Spec: config.Spec{Name: "async", Fields: []config.Field{config.String("name", "")}},
		New: func(c *config.Parsed, _ *Resources) (Output, error) {
			if c.String("name") == "dlq" {
				return dlq, nil
			}
			return main, nil
		}})
	p := f.build(t, `
input: {scripted: {}}
output: {async: {name: main}}
on_error: dead_letter
dead_letter: {async: {name: dlq}}
max_in_flight: 8
`)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(dlq.values()); got != len(batches) {
		t.Fatalf("%d dead letters, want %d", got, len(batches))
	}
	if got := len(main.values()); got != len(batches) {
		t.Fatalf("%d records written, want %d", got, len(batches))
	}
	if f.in.lastCommit() != "300" {
		t.Fatalf("last commit %q, want 300", f.in.lastCommit())
	}
}
