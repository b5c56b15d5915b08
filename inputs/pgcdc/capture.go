package pgcdc

import (
	"context"
	"fmt"
	"io"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/inputs/internal/capture"
)

// session is one connection's work: the checks, the snapshot when one is
// due, then the stream.
func (in *Input) session(ctx context.Context) error {
	conn, err := in.connectSQL(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	in.database = conn.Config().Database
	if err := in.checkServer(ctx, conn); err != nil {
		return err
	}
	tables, err := in.resolveTables(ctx, conn)
	if err != nil {
		return err
	}
	conv := newConverters(in.mapping)
	if in.snapshotMode == capture.SnapshotInitialOnly {
		if err := in.snapshot(ctx, conn, tables, "", 0, conv); err != nil {
			return err
		}
		return io.EOF
	}
	repl, err := in.connectReplication(ctx)
	if err != nil {
		return err
	}
	defer repl.Close(context.WithoutCancel(ctx))
	prepare := in.prepare
	if in.asTable {
		prepare = in.prepareTable
	}
	start, err := prepare(ctx, conn, repl, tables, conv)
	if err != nil {
		return err
	}
	return in.stream(ctx, repl, conn, start, conv)
}

// prepare finds where streaming starts: the position handed on last, or
// the slot's, after a snapshot when one is due.
func (in *Input) prepare(ctx context.Context, conn *pgx.Conn, repl *pgconn.PgConn, tables []tableName, conv *converters) (position, error) {
	slot, err := in.readSlot(ctx, conn)
	if err != nil {
		return position{}, err
	}
	from := in.from()
	switch {
	case from != nil && !from.snapshot:
		if slot.exists {
			return *from, nil
		}
		if in.snapshotMode != capture.SnapshotWhenNeeded {
			return position{}, capture.Fatalf("replication slot %s does not exist (was it dropped?), so the changes after %s are lost to this input: "+
				"to start again from a new snapshot, set snapshot_mode: when_needed, or remove the input's committed position (pipeline reset)", in.slot, from)
		}
		in.log.Warn("the replication slot is gone: taking a new snapshot (snapshot_mode when_needed)", "slot", in.slot, "position", from)
	case in.snapshotMode == capture.SnapshotNoData:
		if slot.exists {
			return position{lsn: slot.confirmed}, nil
		}
		lsn, _, err := in.createSlot(ctx, repl, false)
		return position{lsn: lsn}, err
	case slot.exists:
		// No position, or a snapshot cut short: nothing streamed from the
		// slot was committed, so it can be made again, with a snapshot
		// exported anew at which the stream starts exactly.
		if slot.active {
			// A connection killed a moment ago may still hold it; one
			// that does not let go is another consumer's.
			return position{}, fmt.Errorf("replication slot %s is in use by another connection (each input needs a slot of its own)", in.slot)
		}
		if from != nil {
			in.log.Warn("the snapshot was cut short: reading it again from the start", "slot", in.slot, "rows_handed_on", from.rows)
		} else {
			in.log.Warn("the replication slot exists but this input has no position: making it again for a new snapshot", "slot", in.slot)
		}
		if err := in.dropSlot(ctx, conn); err != nil {
			return position{}, err
		}
	}
	lsn, exported, err := in.createSlot(ctx, repl, true)
	if err != nil {
		return position{}, err
	}
	return position{lsn: lsn}, in.snapshot(ctx, conn, tables, exported, lsn, conv)
}

// hand gives Read a batch, and keeps the server informed while Read is
// slow to take it (s, when not nil, is the stream).
func (in *Input) hand(ctx context.Context, recs []*engine.Record, at position, s *streamer) error {
	var keep capture.KeepAlive
	if s != nil {
		keep = s
	}
	if err := in.loop.Hand(ctx, engine.InputBatch{Records: recs, Partition: in.slot, Position: at.engine()}, keep); err != nil {
		return err
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.handedOn, in.handedOnSet = at, true
	if in.asTable && !at.snapshot && at.lsn > in.confirmed {
		in.confirmed = at.lsn // a table replays nothing: what it took may go
	}
	return nil
}

// from is where the last batch handed on ended, or the resumed position.
func (in *Input) from() *position {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.handedOnSet {
		p := in.handedOn
		return &p
	}
	return in.resumed
}

// confirmable is the LSN to confirm to the server: the engine's, or the
// server's WAL end once every batch handed on is committed and quiet says
// nothing else is on its way.
func (in *Input) confirmable(quiet bool, walEnd pglogrepl.LSN) pglogrepl.LSN {
	in.mu.Lock()
	defer in.mu.Unlock()
	// A table keeps no position: what it was handed is all it needs.
	allCommitted := in.asTable || !in.handedOnSet || (in.committedSet && in.committed == in.handedOn)
	if quiet && allCommitted && walEnd > in.confirmed {
		in.confirmed = walEnd
	}
	return in.confirmed
}

// setStreaming notes that the stream runs again. Where it starts is safe to
// confirm: the transaction at it is sent again, and what was handed on of
// it skipped.
func (in *Input) setStreaming(at pglogrepl.LSN) {
	in.loop.SetFailure(nil)
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.confirmed == 0 {
		in.confirmed = at
	}
}
