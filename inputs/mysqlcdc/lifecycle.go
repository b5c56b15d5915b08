package mysqlcdc

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/pipelinehq/pipeline/engine"
)

// Check connects, checks the server's binlog settings and the tables, and
// lets go.
func (in *Input) Check(ctx context.Context) error {
	db, err := in.connect(ctx)
	if err != nil {
		return unwrapFatal(err)
	}
	defer db.Close()
	if _, err := in.checkServer(ctx, db); err != nil {
		return unwrapFatal(err)
	}
	_, err = in.resolveTables(ctx, db)
	return unwrapFatal(err)
}

// Resume takes the committed position of the binlog.
func (in *Input) Resume(points []engine.Checkpoint) error {
	for _, cp := range points {
		if cp.Partition != partition {
			in.log.Warn("a committed position of another partition is ignored", "partition", cp.Partition, "position", cp.Position)
			continue
		}
		p, err := positionOf(cp.Position)
		if err != nil {
			return fmt.Errorf("%s: %w", in.conf.Path(), err)
		}
		in.resumed = &p
	}
	return nil
}

// Start checks what waiting cannot mend (the binlog settings, the tables,
// the credentials) and starts the capture; a server it cannot reach yet is
// tried again, and Ready says why.
func (in *Input) Start(ctx context.Context) error {
	db, err := in.connect(ctx)
	if err == nil {
		in.server, err = in.checkServer(ctx, db)
		if err == nil {
			in.server.tables, err = in.resolveTables(ctx, db)
		}
		db.Close()
	}
	if err != nil {
		if isFatal(err) {
			return unwrapFatal(err)
		}
		in.setFailure(err)
	}
	if _, err := in.syncerConfig(); err != nil {
		return unwrapFatal(err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	in.cancel, in.done, in.items = cancel, make(chan struct{}), make(chan item)
	go in.capture(runCtx)
	return nil
}

// Read returns the next batch of changes.
func (in *Input) Read(ctx context.Context) (engine.InputBatch, error) {
	if in.items == nil {
		return engine.InputBatch{}, errors.New("mysql_cdc: Read before Start")
	}
	select {
	case it, ok := <-in.items:
		if !ok {
			return engine.InputBatch{}, errors.New("mysql_cdc: Read after Close")
		}
		if it.err != nil {
			if errors.Is(it.err, io.EOF) {
				return engine.InputBatch{}, io.EOF
			}
			return engine.InputBatch{}, unwrapFatal(it.err)
		}
		return it.batch, nil
	case <-in.done:
		return engine.InputBatch{}, errors.New("mysql_cdc: the capture ended")
	case <-ctx.Done():
		return engine.InputBatch{}, ctx.Err()
	}
}

// hand gives Read a batch; it returns once Read took it, or ctx ended.
func (in *Input) hand(ctx context.Context, recs []*engine.Record, p position) error {
	select {
	case in.items <- item{batch: engine.InputBatch{Records: recs, Partition: partition, Position: p.engine()}}:
		in.mu.Lock()
		in.handedOn = &p
		in.mu.Unlock()
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (in *Input) setFailure(err error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.failure = err
}

// Ready is nil while the capture snapshots or streams, else why not.
func (in *Input) Ready() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.failure != nil {
		return fmt.Errorf("mysql_cdc: %w", in.failure)
	}
	return nil
}

// Close stops the capture.
func (in *Input) Close(context.Context) error {
	if in.cancel == nil {
		return nil
	}
	in.cancel()
	<-in.done
	in.cancel = nil
	return nil
}

func unwrapFatal(err error) error {
	var f errFatal
	if errors.As(err, &f) {
		return f.error
	}
	return err
}
