package mysqlcdc

import (
	"context"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/inputs/internal/capture"
)

// Check connects, checks the server's binlog settings and the tables, and
// lets go.
func (in *Input) Check(ctx context.Context) error {
	db, err := in.connect(ctx)
	if err != nil {
		return capture.Unmark(err)
	}
	defer db.Close()
	if _, err := in.checkServer(ctx, db); err != nil {
		return capture.Unmark(err)
	}
	_, err = in.resolveTables(ctx, db)
	return capture.Unmark(err)
}

// Resume takes the committed position of the binlog.
func (in *Input) Resume(points []engine.Checkpoint) (err error) {
	in.resumed, err = capture.Resumed(points, partition, positionOf, in.log, in.conf.Path())
	return err
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
	if capture.IsFatal(err) {
		return capture.Unmark(err)
	}
	in.loop.SetFailure(err)
	if _, err := in.syncerConfig(); err != nil {
		return capture.Unmark(err)
	}
	in.loop.Start(ctx, in.runOnce)
	return nil
}

// Read returns the next batch of changes.
func (in *Input) Read(ctx context.Context) (engine.InputBatch, error) { return in.loop.Read(ctx) }

// hand gives Read a batch; it returns once Read took it, or ctx ended.
func (in *Input) hand(ctx context.Context, recs []*engine.Record, p position) error {
	if err := in.loop.Hand(ctx, engine.InputBatch{Records: recs, Partition: partition, Position: p.engine()}, nil); err != nil {
		return err
	}
	in.mu.Lock()
	in.handedOn = &p
	in.mu.Unlock()
	return nil
}

// Ready is nil while the capture snapshots or streams, else why not.
func (in *Input) Ready() error { return in.loop.Ready() }

// Close stops the capture.
func (in *Input) Close(context.Context) error {
	in.loop.Close()
	return nil
}
