package sqlpoll

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/pipelinehq/pipeline/engine"
)

// poll is one poll's open result set, read a batch at a time. The row
// after a batch's last is scanned ahead (in timestamp mode, to learn
// whether the last timestamp is complete) and kept for the next batch.
type poll struct {
	rows   *sql.Rows
	cancel context.CancelFunc
	row    *rowReader
	vals   []any
	ptrs   []any
	ahead  bool // vals holds a row not handed on yet
	begun  time.Time
}

func (p *poll) close() {
	p.rows.Close()
	p.cancel()
}

// scan reads the next row into vals; false at the end of the result.
func (p *poll) scan() (bool, error) {
	if p.ahead {
		return true, nil
	}
	if !p.rows.Next() {
		return false, p.rows.Err()
	}
	if err := p.rows.Scan(p.ptrs...); err != nil {
		return false, err
	}
	p.ahead = true
	return true, nil
}

// startPoll runs the mode's query from the cursor of the last row handed
// on. Its context outlives the Read that started it: the result set is
// read over several Reads, and closed by the poll's end or Close.
func (in *Input) startPoll(ctx context.Context) (*poll, error) {
	if in.mode == modeTimestamp {
		// Rows sharing the last timestamp may not all have been read: the
		// poll starts again from the last complete one, and reads the rest
		// of those again rather than skip them.
		in.emitted = in.position
	}
	spec := pollSpec{mode: in.mode, tsColumns: in.tsColumns, incColumn: in.incColumn, from: in.emitted, initialSince: in.initial}
	began := time.Now()
	if usesTimestamp(in.mode) {
		var now time.Time
		if err := in.db.QueryRowContext(ctx, in.driver.NowQuery()).Scan(&now); err != nil {
			return nil, fmt.Errorf("reading the database's clock: %w", err)
		}
		spec.upper = upperBound(now, in.delay, in.precision)
	}
	q := in.src.poll(spec)
	qctx, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, cancel)
	rows, err := in.db.QueryContext(qctx, q.sql, q.args...)
	stop()
	if err != nil {
		cancel()
		return nil, fmt.Errorf("polling %s: %w", describeSource(in.src), err)
	}
	cols, err := rows.ColumnTypes()
	if err != nil {
		rows.Close()
		cancel()
		return nil, err
	}
	row, err := in.rowReader(cols)
	if err != nil {
		rows.Close()
		cancel()
		return nil, err
	}
	p := &poll{rows: rows, cancel: cancel, row: row, begun: began, vals: make([]any, len(cols)), ptrs: make([]any, len(cols))}
	for i := range p.vals {
		p.ptrs[i] = &p.vals[i]
	}
	return p, nil
}

// errFatal marks a failure that polling again cannot mend: rows out of
// the cursor's order, a value the mapping cannot hold.
type errFatal struct{ error }

func (e errFatal) Unwrap() error { return e.error }

// next reads the next batch of the poll: done once its result is read.
func (in *Input) next(ctx context.Context, p *poll) (recs []*engine.Record, done bool, err error) {
	// A Read cancelled mid-fetch cancels the query: its result set is gone
	// and the next poll starts from the last row handed on.
	stop := context.AfterFunc(ctx, p.cancel)
	defer stop()
	complete := in.position // in timestamp mode: the last timestamp all of whose rows were read
	now := time.Now().UnixMilli()
	for len(recs) < in.batchMax {
		ok, err := p.scan()
		if err != nil {
			return recs, false, err
		}
		if !ok {
			done = true
			break
		}
		rec, c, err := p.row.record(p.vals, now)
		if err != nil {
			return recs, false, errFatal{fmt.Errorf("%s, row after %s: %w", describeSource(in.src), in.emitted, err)}
		}
		if c.set && !c.after(in.emitted, in.mode) {
			return recs, false, errFatal{in.outOfOrder(c)}
		}
		if in.mode == modeTimestamp && in.emitted.set && c.ts.After(in.emitted.ts) {
			complete = in.emitted
		}
		p.ahead = false
		rec.Source = in.origin
		in.emitted = c
		recs = append(recs, rec)
	}
	if len(recs) == 0 {
		return nil, done, nil
	}
	in.position = in.emitted
	if in.mode == modeTimestamp && !done {
		ok, err := p.scan()
		if err != nil {
			return recs, false, err
		}
		if !ok {
			done = true
		} else if c, err := p.row.cursor(p.vals); err == nil && c.ts.Equal(in.emitted.ts) {
			// More rows share the last timestamp: resuming after it would
			// skip them (confluentinc/kafka-connect-jdbc#1093).
			in.position = complete
		}
	}
	return recs, done, nil
}

func (in *Input) outOfOrder(c cursor) error {
	field, what := "incrementing_column", "increasing"
	switch in.mode {
	case modeTimestamp:
		field, what = "timestamp_columns", "non-decreasing"
	case modeTimestampIncrementing:
		field, what = "timestamp_columns", "increasing (timestamp, then incrementing)"
	}
	return fmt.Errorf("%s: %s returned a row at %s after one at %s: the cursor is not %s in the query's order "+
		"(a column that is not unique, or not monotonic: polling it would skip or repeat rows)",
		in.conf.FieldPath(field), describeSource(in.src), c, in.emitted, what)
}
