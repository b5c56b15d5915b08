package pgcdc

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/inputs/internal/capture"
)

// linger is how long changes wait for more before they are handed on as a
// batch smaller than batch_max_events.
const linger = 20 * time.Millisecond

// streamer decodes the replication stream into batches.
type streamer struct {
	in   *Input
	repl *pgconn.PgConn
	sql  *pgx.Conn
	conv *converters
	rels map[uint32]*relation

	skip position // the changes handed on before this stream began

	tx         *txn
	lastCommit pglogrepl.LSN
	pending    []*engine.Record
	pendingPos position
	since      time.Time // when the first pending change came

	walEnd     pglogrepl.LSN // the server's, from its keepalives
	nextStatus time.Time
}

// txn is the transaction being decoded.
type txn struct {
	commitLSN pglogrepl.LSN
	o         origin
	events    int64 // its changes so far
	skip      int64 // how many of them were handed on before
}

// stream reads the slot from start on, skipping the changes of start's
// transaction that were handed on already.
func (in *Input) stream(ctx context.Context, repl *pgconn.PgConn, sql *pgx.Conn, start position, conv *converters) error {
	err := pglogrepl.StartReplication(ctx, repl, in.slot, start.lsn, pglogrepl.StartReplicationOptions{
		PluginArgs: []string{"proto_version '1'", "publication_names '" + in.publication + "'"},
	})
	if err != nil {
		return fmt.Errorf("starting replication from slot %s at %s: %w", in.slot, start.lsn, err)
	}
	in.log.Info("streaming changes", "slot", in.slot, "from", start.lsn)
	in.setStreaming(start.lsn)
	s := &streamer{in: in, repl: repl, sql: sql, conv: conv, rels: map[uint32]*relation{}, skip: start, lastCommit: start.lsn}
	defer func() {
		// A connection pgconn is closing (the server went, a deadline) is
		// being written to by its closer: nothing more can be said on it.
		if !repl.IsClosed() {
			s.sendStatus(context.WithoutCancel(ctx))
		}
	}()
	for {
		if err := s.receive(ctx); err != nil {
			return err
		}
	}
}

// receive waits for one message (or for the next status update, or for
// pending changes to be due) and handles it.
func (s *streamer) receive(ctx context.Context) error {
	now := time.Now()
	if !now.Before(s.nextStatus) {
		if err := s.sendStatus(ctx); err != nil {
			return err
		}
	}
	deadline := s.nextStatus
	if len(s.pending) > 0 {
		if due := s.since.Add(linger); due.Before(deadline) {
			deadline = due
		}
	}
	rctx, cancel := context.WithDeadline(ctx, deadline)
	msg, err := s.repl.ReceiveMessage(rctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if pgconn.Timeout(err) {
			if len(s.pending) > 0 && !time.Now().Before(s.since.Add(linger)) {
				return s.flush(ctx)
			}
			return nil
		}
		return fmt.Errorf("receiving from slot %s: %w", s.in.slot, err)
	}
	switch m := msg.(type) {
	case *pgproto3.CopyData:
		return s.copyData(ctx, m.Data)
	case *pgproto3.ErrorResponse:
		return fmt.Errorf("slot %s: %w", s.in.slot, pgconn.ErrorResponseToPgError(m))
	case *pgproto3.CopyDone:
		return fmt.Errorf("slot %s: the server ended the replication stream", s.in.slot)
	}
	return nil
}

func (s *streamer) copyData(ctx context.Context, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	switch data[0] {
	case pglogrepl.PrimaryKeepaliveMessageByteID:
		k, err := pglogrepl.ParsePrimaryKeepaliveMessage(data[1:])
		if err != nil {
			return err
		}
		// A keepalive's WAL end is where decoding got: every transaction
		// of the publication committed before it was sent already.
		s.walEnd = max(s.walEnd, k.ServerWALEnd)
		if k.ReplyRequested {
			return s.sendStatus(ctx)
		}
	case pglogrepl.XLogDataByteID:
		x, err := pglogrepl.ParseXLogData(data[1:])
		if err != nil {
			return err
		}
		msg, err := pglogrepl.Parse(x.WALData)
		if err != nil {
			return fmt.Errorf("decoding a pgoutput message at %s: %w", x.WALStart, err)
		}
		return s.message(ctx, msg, x.WALStart)
	}
	return nil
}

func (s *streamer) message(ctx context.Context, msg pglogrepl.Message, lsn pglogrepl.LSN) error {
	switch m := msg.(type) {
	case *pglogrepl.RelationMessage:
		return s.relation(ctx, m)
	case *pglogrepl.BeginMessage:
		s.tx = &txn{commitLSN: m.FinalLSN, o: origin{commitTime: m.CommitTime, xid: m.Xid, lastCommit: s.lastCommit, snapshot: "false"}}
		switch {
		case m.FinalLSN == s.skip.lsn:
			s.tx.skip = s.skip.events
		case m.FinalLSN < s.skip.lsn:
			s.tx.skip = -1 // all of it: handed on before
		}
	case *pglogrepl.CommitMessage:
		if s.tx == nil {
			return fmt.Errorf("slot %s: a commit at %s without its begin", s.in.slot, m.CommitLSN)
		}
		s.lastCommit = m.CommitLSN
		if len(s.pending) > 0 {
			s.pendingPos = position{lsn: s.tx.commitLSN, events: s.tx.events}
		}
		s.tx = nil
		if len(s.pending) >= s.in.batchMax {
			return s.flush(ctx)
		}
	case *pglogrepl.InsertMessage:
		return s.change(ctx, m.RelationID, engine.OpCreate, nil, m.Tuple, lsn)
	case *pglogrepl.UpdateMessage:
		return s.change(ctx, m.RelationID, engine.OpUpdate, m.OldTuple, m.NewTuple, lsn)
	case *pglogrepl.DeleteMessage:
		return s.change(ctx, m.RelationID, engine.OpDelete, m.OldTuple, nil, lsn)
	case *pglogrepl.TruncateMessage:
		return s.truncate(ctx, m, lsn)
	}
	return nil
}

// relation caches a table's description, sent before its first change
// and again after it changed (ALTER TABLE).
func (s *streamer) relation(ctx context.Context, m *pglogrepl.RelationMessage) error {
	t := tableName{m.Namespace, m.RelationName}
	key, err := primaryKey(ctx, s.sql, t)
	if err != nil {
		return fmt.Errorf("reading the primary key of %s: %w", t, err)
	}
	names := make([]string, len(m.Columns))
	oids := make([]uint32, len(m.Columns))
	var identity []string
	for i, c := range m.Columns {
		names[i], oids[i] = c.Name, c.DataType
		if c.Flags == 1 {
			identity = append(identity, c.Name)
		}
	}
	if len(key) == 0 && len(identity) < len(names) {
		key = identity // REPLICA IDENTITY USING INDEX keys a table without a primary key
	}
	s.rels[m.RelationID] = s.in.newRelation(t, names, oids, key, s.conv)
	return nil
}

// counted counts a change of the transaction and tells whether it is new.
func (s *streamer) counted() (bool, error) {
	if s.tx == nil {
		return false, fmt.Errorf("slot %s: a change outside a transaction", s.in.slot)
	}
	s.tx.events++
	return s.tx.skip >= 0 && s.tx.events > s.tx.skip, nil
}

func (s *streamer) change(ctx context.Context, relID uint32, op engine.Operation, oldTuple, newTuple *pglogrepl.TupleData, lsn pglogrepl.LSN) error {
	fresh, err := s.counted()
	if err != nil || !fresh {
		return err
	}
	rel, ok := s.rels[relID]
	if !ok {
		return fmt.Errorf("slot %s: a change of relation %d before its description", s.in.slot, relID)
	}
	// A change that cannot become a record stops the capture before it:
	// connecting again would meet it again, and skipping it would lose it.
	before, err := s.in.row(rel, oldTuple)
	if err != nil {
		return capture.Fatalf("change at %s: %w", lsn, err)
	}
	after, err := s.in.row(rel, newTuple)
	if err != nil {
		return capture.Fatalf("change at %s: %w", lsn, err)
	}
	recs, err := s.in.records(change{rel: rel, op: op, before: before, after: after, lsn: lsn}, s.tx.o)
	if err != nil {
		return capture.Fatalf("%s, change at %s: %w", rel.table, lsn, err)
	}
	return s.add(ctx, recs)
}

func (s *streamer) truncate(ctx context.Context, m *pglogrepl.TruncateMessage, lsn pglogrepl.LSN) error {
	fresh, err := s.counted()
	if err != nil || !fresh {
		return err
	}
	var recs []*engine.Record
	for _, id := range m.RelationIDs {
		rel, ok := s.rels[id]
		if !ok {
			return fmt.Errorf("slot %s: a truncate of relation %d before its description", s.in.slot, id)
		}
		rec, ok := s.in.truncateRecord(rel, lsn, s.tx.o)
		if !ok {
			s.in.log.Warn("a truncate is not handed on: the row envelope has no record for it", "table", rel.table.String())
			continue
		}
		recs = append(recs, rec)
	}
	return s.add(ctx, recs)
}

func (s *streamer) add(ctx context.Context, recs []*engine.Record) error {
	if len(s.pending) == 0 {
		s.since = time.Now()
	}
	s.pending = append(s.pending, recs...)
	s.pendingPos = position{lsn: s.tx.commitLSN, events: s.tx.events}
	if len(s.pending) >= s.in.batchMax {
		return s.flush(ctx)
	}
	return nil
}

func (s *streamer) flush(ctx context.Context) error {
	recs := s.pending
	s.pending = nil
	return s.in.hand(ctx, recs, s.pendingPos, s)
}

// sendStatus tells the server what it may let go of: the LSN the engine
// committed, or, when everything handed on is committed and nothing is on
// its way, the WAL end of its last keepalive.
func (s *streamer) sendStatus(ctx context.Context) error {
	lsn := s.in.confirmable(s.tx == nil && len(s.pending) == 0, s.walEnd)
	s.nextStatus = time.Now().Add(s.in.heartbeat)
	if lsn == 0 {
		return nil
	}
	if err := pglogrepl.SendStandbyStatusUpdate(ctx, s.repl, pglogrepl.StandbyStatusUpdate{WALWritePosition: lsn}); err != nil {
		return fmt.Errorf("slot %s: sending the confirmed position: %w", s.in.slot, err)
	}
	return nil
}

// Due and Send keep the server informed while Read is slow to take a
// batch (capture.KeepAlive).
func (s *streamer) Due() <-chan time.Time { return time.After(time.Until(s.nextStatus)) }

func (s *streamer) Send(ctx context.Context) error { return s.sendStatus(ctx) }
