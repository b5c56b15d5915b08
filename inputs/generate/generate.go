package generate

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/inputs/internal/lineio"
)

// Partition is the one partition of the generate input.
const Partition = "generate"

// positionField names the sequence number of the next record in positions.
const positionField = "next"

// Plugin is the generate input type.
func Plugin() engine.InputPlugin {
	return engine.InputPlugin{
		Spec: config.Spec{
			Name:    "generate",
			Summary: "Generates records from an expression: a given number, or without end.",
			Description: "The value expression is evaluated once per record; meta.offset is the record's 0-based sequence " +
				"number and timestamp the time it was made. All records belong to the partition \"generate\"; a " +
				"batch's position is the sequence number of the next record: {\"next\": n}.",
			Fields: []config.Field{
				config.Expr("value", "The value of each record, an expression; meta.offset is the record's 0-based sequence number.").
					Required().Example(`{"id": meta.offset, "name": "user" + string(meta.offset)}`, `"hello"`),
				config.Expr("key", "The key of each record, an expression evaluated after value (it sees it): a string or bytes as they are, a number as its decimal text; nil or no key expression: no key.").
					Example(`"user-" + string(meta.offset % 100)`, `value.id`),
				config.Int("count", "How many records to generate before the input ends; 0 generates without end.").
					Default(0).Example(1000000),
				config.Duration("interval", "The time between records; 0 generates as fast as records are taken. With an interval, each batch holds one record.").
					Default("0s").Example("1s", "100ms"),
				config.Int("batch_size", "The most records in one batch when interval is 0.").
					Default(256).Example(1024).Advanced(),
			},
			Example: `input:
  generate:
    value: '{"id": meta.offset, "even": meta.offset % 2 == 0}'
    count: 1000`,
		},
		New: New,
	}
}

// Input is a running generate input.
type Input struct {
	value     *engine.Expr
	key       *engine.Expr // nil: no key
	count     int64
	interval  time.Duration
	batchSize int
	src       *engine.Source
	alloc     lineio.Records

	seq  int64     // records generated so far
	next time.Time // when the next record is due, with an interval
}

// New builds a generate input from its config.
func New(conf *config.Parsed, res *engine.Resources) (engine.Input, error) {
	in := &Input{
		count:     int64(conf.Int("count")),
		interval:  conf.Duration("interval"),
		batchSize: conf.Int("batch_size"),
		src:       &engine.Source{Input: res.Label, Partition: Partition},
	}
	var errs config.Errors
	value, err := engine.CompileExpr(conf.Expr("value"), engine.AnyResult)
	if err != nil {
		errs = append(errs, config.AsErrors(err)...)
	}
	in.value = value
	if conf.Has("key") {
		if in.key, err = engine.CompileExpr(conf.Expr("key"), engine.AnyResult); err != nil {
			errs = append(errs, config.AsErrors(err)...)
		}
	}
	if in.count < 0 {
		errs = append(errs, conf.Errorf("count", "must be 0 (without end) or more, got %d", in.count))
	}
	if in.batchSize < 1 {
		errs = append(errs, conf.Errorf("batch_size", "must be at least 1, got %d", in.batchSize))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if in.interval > 0 {
		in.batchSize = 1
	}
	return in, nil
}

// Read generates the next batch; io.EOF after count records.
func (in *Input) Read(ctx context.Context) (engine.InputBatch, error) {
	if err := ctx.Err(); err != nil {
		return engine.InputBatch{}, err
	}
	n := int64(in.batchSize)
	if in.count > 0 {
		n = min(n, in.count-in.seq)
		if n <= 0 {
			return engine.InputBatch{}, io.EOF
		}
	}
	if in.interval > 0 {
		if err := in.wait(ctx); err != nil {
			return engine.InputBatch{}, err
		}
	}
	now := time.Now().UnixMilli()
	recs := make([]*engine.Record, n)
	for i := range recs {
		rec := in.alloc.New(nil, engine.Text)
		rec.Source = in.src
		rec.Offset = in.seq + int64(i)
		rec.Timestamp = now
		v, err := in.value.Eval(rec)
		if err != nil {
			return engine.InputBatch{}, fmt.Errorf("generating record %d: %w", rec.Offset, err)
		}
		rec.SetValue(v)
		if in.key != nil {
			k, err := in.key.Eval(rec)
			if err == nil {
				rec.Key, err = engine.KeyBytes(k)
			}
			if err != nil {
				return engine.InputBatch{}, fmt.Errorf("generating record %d: key: %w", rec.Offset, err)
			}
		}
		recs[i] = rec
	}
	in.seq += n
	return engine.InputBatch{Records: recs, Partition: Partition, Position: engine.IntPosition(positionField, in.seq)}, nil
}

// wait sleeps until the next record is due. The first is due at once; a
// consumer that fell behind by more than an interval gets no burst.
func (in *Input) wait(ctx context.Context) error {
	now := time.Now()
	if in.next.IsZero() || now.Sub(in.next) > in.interval {
		in.next = now
	}
	if d := in.next.Sub(now); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	in.next = in.next.Add(in.interval)
	return nil
}

// Close releases nothing: the input holds no resources.
func (in *Input) Close(context.Context) error { return nil }

// Resume continues the sequence after the records a committed position
// counts: a restart with state, or a hot reload, goes on with the next
// number instead of starting again at 0.
func (in *Input) Resume(points []engine.Checkpoint) error {
	for _, p := range points {
		if p.Partition != Partition {
			continue
		}
		seq, err := p.Position.Int(positionField)
		if err != nil || seq < 0 {
			return fmt.Errorf("position %s: want %q, the sequence number of the next record", p.Position, positionField)
		}
		in.seq = seq
	}
	return nil
}
