package pgcdc

import (
	"context"
	"errors"
	"fmt"

	"github.com/pipelinehq/pipeline/engine"
)

// ConfirmsAtSource marks the input as one whose slot keeps only the LSN:
// the engine keeps its whole position too.
func (in *Input) ConfirmsAtSource() {}

// Check connects, checks the server, the tables and the publication, and
// lets go, creating nothing.
func (in *Input) Check(ctx context.Context) error {
	conn, err := in.connectSQL(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := in.checkServer(ctx, conn); err != nil {
		return err
	}
	for _, t := range in.tables {
		ok, err := tableExists(ctx, conn, t)
		if err != nil {
			return err
		}
		if !ok {
			return in.conf.Errorf("tables", "table %s does not exist", t)
		}
	}
	_, err = in.readSlot(ctx, conn)
	return err
}

// Resume takes the committed position of the input's slot.
func (in *Input) Resume(points []engine.Checkpoint) error {
	for _, cp := range points {
		if cp.Partition != in.slot {
			in.log.Warn("a committed position of another slot is ignored", "partition", cp.Partition, "position", cp.Position)
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

// Start checks what cannot be mended by waiting (the server's wal_level,
// the tables, the publication, the credentials) and starts the capture.
func (in *Input) Start(ctx context.Context) error {
	conn, err := in.connectSQL(ctx)
	if err == nil {
		err = in.checkServer(ctx, conn)
		if err == nil {
			_, err = in.resolveTables(ctx, conn)
		}
		conn.Close(context.WithoutCancel(ctx))
	}
	if err != nil {
		var fatal errFatal
		if errors.As(err, &fatal) {
			return fatal.error
		}
		// Unreachable: the capture keeps trying, and Ready says why.
		in.setFailure(err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	in.cancel, in.done, in.items = cancel, make(chan struct{}), make(chan item)
	go in.capture(runCtx)
	return nil
}

// Read returns the next batch of changes.
func (in *Input) Read(ctx context.Context) (engine.InputBatch, error) {
	if in.items == nil {
		return engine.InputBatch{}, errors.New("postgres_cdc: Read before Start")
	}
	select {
	case it, ok := <-in.items:
		if !ok {
			return engine.InputBatch{}, errors.New("postgres_cdc: Read after Close")
		}
		if it.err != nil {
			var fatal errFatal
			if errors.As(it.err, &fatal) {
				return engine.InputBatch{}, fatal.error
			}
			return engine.InputBatch{}, it.err
		}
		return it.batch, nil
	case <-in.done:
		return engine.InputBatch{}, errors.New("postgres_cdc: the capture ended")
	case <-ctx.Done():
		return engine.InputBatch{}, ctx.Err()
	}
}

// Commit learns the position below which every output wrote everything:
// its LSN is confirmed to the server with the next status update.
func (in *Input) Commit(_ context.Context, points []engine.Checkpoint) error {
	for _, cp := range points {
		if cp.Partition != in.slot {
			continue
		}
		p, err := positionOf(cp.Position)
		if err != nil {
			return err
		}
		in.mu.Lock()
		in.committed, in.committedSet = p, true
		if !p.snapshot && p.lsn > in.confirmed {
			in.confirmed = p.lsn
		}
		in.mu.Unlock()
	}
	return nil
}

// Ready is nil while the capture snapshots or streams, else why not.
func (in *Input) Ready() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.failure != nil {
		return fmt.Errorf("postgres_cdc slot %s: %w", in.slot, in.failure)
	}
	return nil
}

// Close stops the capture, which confirms what was committed as it goes.
func (in *Input) Close(context.Context) error {
	if in.cancel == nil {
		return nil
	}
	in.cancel()
	<-in.done
	in.cancel = nil
	return nil
}
