package pgcdc

import (
	"context"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/inputs/internal/capture"
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
func (in *Input) Resume(points []engine.Checkpoint) (err error) {
	in.resumed, err = capture.Resumed(points, in.slot, positionOf, in.log, in.conf.Path())
	return err
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
	if capture.IsFatal(err) {
		return capture.Unmark(err)
	}
	// Unreachable: the capture keeps trying, and Ready says why.
	in.loop.SetFailure(err)
	in.loop.Start(ctx, in.session)
	return nil
}

// Read returns the next batch of changes.
func (in *Input) Read(ctx context.Context) (engine.InputBatch, error) { return in.loop.Read(ctx) }

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
func (in *Input) Ready() error { return in.loop.Ready() }

// Close stops the capture, which confirms what was committed as it goes.
func (in *Input) Close(context.Context) error {
	in.loop.Close()
	return nil
}
