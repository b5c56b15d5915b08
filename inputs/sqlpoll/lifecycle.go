package sqlpoll

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/internal/sqldb"
)

// Retry delays of a poll that failed (the server restarting, the network):
// doubled from the first to the last, and polled again for ever.
const (
	firstRetry = 500 * time.Millisecond
	lastRetry  = 30 * time.Second
)

// Check connects, checks the table and the cursor columns, and lets go.
func (in *Input) Check(ctx context.Context) error {
	db, err := in.connect(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	_, _, err = in.validate(ctx, db)
	return err
}

// Resume takes the committed cursor of the input's partition.
func (in *Input) Resume(points []engine.Checkpoint) error {
	for _, cp := range points {
		if cp.Partition != in.partition {
			in.log.Warn("a committed position of another table is ignored", "partition", cp.Partition, "position", cp.Position)
			continue
		}
		c, err := cursorOf(in.mode, cp.Position)
		if err != nil {
			return fmt.Errorf("%s: %w", in.conf.Path(), err)
		}
		in.resumed = &c
	}
	return nil
}

// Start connects and checks the table, the cursor and key columns. A
// server that refuses the credentials, a missing table or column, a cursor
// of the wrong type, NULL-able or without an index stops the start with an
// error naming the setting.
func (in *Input) Start(ctx context.Context) error {
	db, err := in.connect(ctx)
	if err != nil {
		return err
	}
	key, precision, err := in.validate(ctx, db)
	if err != nil {
		db.Close()
		return err
	}
	in.db, in.key, in.precision = db, key, precision
	if in.resumed != nil {
		in.emitted, in.position = *in.resumed, *in.resumed
	}
	in.setReady(nil, true)
	return nil
}

func (in *Input) connect(ctx context.Context) (*sql.DB, error) {
	db, err := sqldb.Open(in.driver, in.dsn)
	if err != nil {
		return nil, in.conf.Errorf("dsn", "%s", config.Redact(err.Error(), in.dsn))
	}
	// One connection streams a poll's result; another reads the clock
	// and the catalog.
	db.SetMaxOpenConns(2)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, in.conf.Errorf("dsn", "cannot connect to %s: %s", in.driver, config.Redact(err.Error(), in.dsn))
	}
	return db, nil
}

// Read returns the next batch of rows: from the poll being read, else from
// a new poll once poll_interval has passed since the last began. A failed
// poll is logged and tried again after a delay, from the last row handed
// on.
func (in *Input) Read(ctx context.Context) (engine.InputBatch, error) {
	if in.db == nil {
		return engine.InputBatch{}, errors.New("sql_poll: Read before Start or after Close")
	}
	retry := firstRetry
	for {
		if err := ctx.Err(); err != nil {
			return engine.InputBatch{}, err
		}
		if in.poll == nil {
			if err := sleep(ctx, time.Until(in.nextPoll)); err != nil {
				return engine.InputBatch{}, err
			}
			p, err := in.startPoll(ctx)
			if err != nil {
				if err := in.failed(ctx, err, &retry); err != nil {
					return engine.InputBatch{}, err
				}
				continue
			}
			in.poll = p
		}
		recs, done, err := in.next(ctx, in.poll)
		if err != nil {
			in.poll.close()
			in.poll = nil
			var fatal errFatal
			if errors.As(err, &fatal) {
				return engine.InputBatch{}, err
			}
			if len(recs) > 0 {
				// Hand on what was read; the next Read polls again from it.
				return in.batch(recs), nil
			}
			if err := in.failed(ctx, err, &retry); err != nil {
				return engine.InputBatch{}, err
			}
			continue
		}
		in.setReady(nil, true)
		retry = firstRetry
		if done {
			in.nextPoll = in.poll.begun.Add(in.interval)
			in.poll.close()
			in.poll = nil
		}
		if len(recs) > 0 {
			return in.batch(recs), nil
		}
	}
}

func (in *Input) batch(recs []*engine.Record) engine.InputBatch {
	return engine.InputBatch{Records: recs, Partition: in.partition, Position: in.position.position(in.mode)}
}

// failed logs a failed poll and waits before the next try; it returns an
// error only when ctx ends.
func (in *Input) failed(ctx context.Context, err error, retry *time.Duration) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	err = errors.New(config.Redact(err.Error(), in.dsn))
	in.setReady(err, true)
	in.log.Warn("polling failed; trying again", "source", describeSource(in.src), "after", retry.String(), "error", err)
	if err := sleep(ctx, *retry); err != nil {
		return err
	}
	*retry = min(2**retry, lastRetry)
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (in *Input) setReady(failure error, started bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.failure, in.started = failure, started
}

// Ready reports a poll that keeps failing.
func (in *Input) Ready() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	switch {
	case !in.started:
		return errors.New("not started")
	case in.failure != nil:
		return fmt.Errorf("polling %s fails: %w", describeSource(in.src), in.failure)
	}
	return nil
}

// Close ends the poll being read and disconnects.
func (in *Input) Close(context.Context) error {
	if in.poll != nil {
		in.poll.close()
		in.poll = nil
	}
	if in.db != nil {
		in.db.Close()
		in.db = nil
	}
	return nil
}
