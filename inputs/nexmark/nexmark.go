package nexmark

import (
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/inputs/internal/lineio"
)

// Partition is the one partition of the nexmark input.
const Partition = "nexmark"

const maxEventsPerSecond = 1_000_000_000

// Plugin is the nexmark input type.
func Plugin() engine.InputPlugin {
	return engine.InputPlugin{
		Spec: config.Spec{
			Name:    "nexmark",
			Summary: "Generates the Nexmark benchmark's person, auction and bid events, deterministically.",
			Description: "Follows the Nexmark generator model (Apache Beam, Flink): events are numbered from 0; of every 50, " +
				"1 is a person, 3 are auctions and 46 are bids; ids derive from the event number, so bids go mostly to " +
				"a few hot auctions and come mostly from hot bidders, and refer only to auctions and persons made " +
				"before them. Event n has the event time base_time + n × 1000/events_per_second ms, whatever the " +
				"wall clock says, and the same seed always gives the same events.\n\n" +
				"Each value is an object with \"type\" (person, auction or bid) and the type's fields: a person has " +
				"id, name, email_address, credit_card, city, state, date_time and extra; an auction id, item_name, " +
				"description, initial_bid, reserve, date_time, expires, seller, category and extra; a bid auction, " +
				"bidder, price, channel, url, date_time and extra. Prices are in cents; date_time and expires are " +
				"milliseconds since the Unix epoch. The record's timestamp is date_time and its key the id (a bid's: " +
				"its auction). All records belong to the partition \"nexmark\"; the offset is the event number, and " +
				"a batch's position the number of the next event, so a resumed input carries on where it stopped.",
			Fields: []config.Field{
				config.Int("seed", "The seed of every random choice: the same seed gives the same events.").
					Default(1).Example(42),
				config.Int("count", "How many events to make (counting every type, also those types leaves out) before the input ends; 0 makes events without end.").
					Default(100000).Example(10000000, 0),
				config.Int("events_per_second", "The event rate: event times are 1000/events_per_second ms apart. With rate_limit, also the wall-clock rate.").
					Default(10000).Example(1000, 100000),
				config.Bool("rate_limit", "Emit each event when the wall clock reaches its event time (relative to the first read) instead of as fast as possible; an input that fell behind catches up.").
					Default(false).Example(true),
				config.String("base_time", "The event time of event 0, an RFC 3339 time.").
					Default("2024-01-01T00:00:00Z").Example("2025-06-01T12:00:00Z"),
				config.StringList("types", "The event types to emit, of person, auction and bid. Left-out types still take their event numbers, so ids and times stay those of the full stream.").
					Default([]string{"person", "auction", "bid"}).Example([]string{"bid"}, []string{"person", "auction"}),
				config.Int("batch_size", "The most records in one batch.").
					Default(1024).Example(256).Advanced(),
			},
			Example: `input:
  nexmark:
    count: 1000000
    types: [bid]`,
		},
		New: New,
	}
}

// Input is a running nexmark input.
type Input struct {
	gen       *Generator
	count     int64
	rate      int64
	rateLimit bool
	batchSize int
	want      [3]bool
	src       *engine.Source
	alloc     lineio.Records

	next int64  // the next event number
	keys []byte // room for record keys

	// With rate_limit: when the first read came, and the event due then.
	started   time.Time
	startedAt int64
}

// New builds a nexmark input from its config.
func New(conf *config.Parsed, res *engine.Resources) (engine.Input, error) {
	in := &Input{
		count:     int64(conf.Int("count")),
		rate:      int64(conf.Int("events_per_second")),
		rateLimit: conf.Bool("rate_limit"),
		batchSize: conf.Int("batch_size"),
		src:       &engine.Source{Input: res.Label, Partition: Partition},
	}
	var errs config.Errors
	if in.count < 0 {
		errs = append(errs, conf.Errorf("count", "must be 0 (without end) or more, got %d", in.count))
	}
	if in.rate < 1 || in.rate > maxEventsPerSecond {
		errs = append(errs, conf.Errorf("events_per_second", "must be from 1 to %d, got %d", maxEventsPerSecond, in.rate))
	}
	if in.batchSize < 1 {
		errs = append(errs, conf.Errorf("batch_size", "must be at least 1, got %d", in.batchSize))
	}
	base, err := time.Parse(time.RFC3339, conf.String("base_time"))
	if err != nil {
		errs = append(errs, conf.Errorf("base_time", "want an RFC 3339 time such as 2024-01-01T00:00:00Z, got %q", conf.String("base_time")))
	}
	types := conf.StringList("types")
	if len(types) == 0 {
		errs = append(errs, conf.Errorf("types", "must name at least one of person, auction, bid"))
	}
	for i, t := range types {
		k, ok := kindNamed(t)
		if !ok {
			errs = append(errs, elementError(conf, "types", i, fmt.Sprintf("%q is not one of person, auction, bid%s", t, config.Suggest(t, kindNames[:]))))
			continue
		}
		in.want[k] = true
	}
	if len(errs) > 0 {
		return nil, errs
	}
	in.gen = NewGenerator(int64(conf.Int("seed")), base.UnixMilli(), in.rate)
	return in, nil
}

func kindNamed(s string) (Kind, bool) {
	for k, name := range kindNames {
		if name == s {
			return Kind(k), true
		}
	}
	return 0, false
}

// elementError is an error at item i of a list field.
func elementError(conf *config.Parsed, field string, i int, msg string) *config.Error {
	path := config.JoinPath(conf.FieldPath(field), strconv.Itoa(i))
	if n := conf.Node(field); n != nil && i < len(n.Content) && n.Content[i].Line > 0 {
		c := n.Content[i]
		return &config.Error{Pos: config.Pos{File: conf.File(), Line: c.Line, Col: c.Column}, Path: path, Msg: msg}
	}
	e := conf.Errorf(field, "%s", msg)
	e.Path = path
	return e
}

// positionField names the number of the next event in positions.
const positionField = "next"

// Resume starts from the position committed for the nexmark partition: the
// number of the next event.
func (in *Input) Resume(checkpoints []engine.Checkpoint) error {
	for _, cp := range checkpoints {
		if cp.Partition != Partition {
			continue
		}
		n, err := cp.Position.Int(positionField)
		if err != nil || n < 0 || (in.count > 0 && n > in.count) {
			return fmt.Errorf("nexmark: cannot resume from position %s: want %q, an event number from 0 to count", cp.Position, positionField)
		}
		in.next = n
	}
	return nil
}

// Read makes the next batch; io.EOF after count events.
func (in *Input) Read(ctx context.Context) (engine.InputBatch, error) {
	end := int64(math.MaxInt64)
	if in.count > 0 {
		end = in.count
	}
	recs := make([]*engine.Record, 0, in.batchSize)
	for len(recs) == 0 {
		if err := ctx.Err(); err != nil {
			return engine.InputBatch{}, err
		}
		if in.next >= end {
			return engine.InputBatch{}, io.EOF
		}
		limit := end
		if in.rateLimit {
			due, err := in.wait(ctx)
			if err != nil {
				return engine.InputBatch{}, err
			}
			limit = min(limit, due)
		}
		n := in.next
		for ; n < limit && len(recs) < in.batchSize; n++ {
			if in.want[KindOf(n)] {
				recs = append(recs, in.record(n))
			}
		}
		in.next = n
	}
	return engine.InputBatch{Records: recs, Partition: Partition, Position: engine.IntPosition(positionField, in.next)}, nil
}

func (in *Input) record(n int64) *engine.Record {
	value, key := in.gen.Event(n)
	rec := in.alloc.New(nil, engine.Text)
	rec.Source = in.src
	rec.Offset = n
	rec.Timestamp = in.gen.Timestamp(n)
	if cap(in.keys)-len(in.keys) < 20 {
		in.keys = make([]byte, 0, 4096)
	}
	start := len(in.keys)
	in.keys = strconv.AppendInt(in.keys, key, 10)
	rec.SetKeyFromInput(in.keys[start:len(in.keys):len(in.keys)])
	rec.SetValue(value)
	return rec
}

// wait returns the first event number not yet due by the wall clock, after
// sleeping until in.next is due. Event n is due (n - startedAt) inter-event
// delays after the first read.
func (in *Input) wait(ctx context.Context) (int64, error) {
	now := time.Now()
	if in.started.IsZero() {
		in.started, in.startedAt = now, in.next
	}
	perEvent := float64(time.Second) / float64(in.rate)
	if d := time.Duration(float64(in.next-in.startedAt)*perEvent) - now.Sub(in.started); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	elapsed := time.Since(in.started)
	return max(in.startedAt+int64(float64(elapsed)/perEvent)+1, in.next+1), nil
}

// Close releases nothing: the input holds no resources.
func (in *Input) Close(context.Context) error { return nil }
