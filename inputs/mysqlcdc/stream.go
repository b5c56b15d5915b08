package mysqlcdc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/inputs/internal/capture"
)

// linger is how long a batch waits for more changes before it is handed
// on, once it holds a whole transaction.
const linger = 20 * time.Millisecond

// streamer turns the binlog's events into batches.
type streamer struct {
	in      *Input
	file    string // the binlog file being read
	rels    map[tableName]*mappedTable
	running bool  // an event came since the connection was made
	skip    int64 // changes of the first transaction already handed on before a restart
	tx      *transaction
	settled position // after the last whole transaction: where a restart could begin
	handed  position // the position of the last batch handed on
	lastOut time.Time

	pending    []*engine.Record
	pendingPos position
	since      time.Time // when the first pending record came
}

// transaction is the transaction being read.
type transaction struct {
	start  position // where it begins
	events int64    // its captured changes so far
	skip   int64    // how many of them to skip
	gtid   string
	begun  bool // a BEGIN was read: a query event inside is part of it
}

// stream reads the binlog from `from` until ctx ends or the connection
// fails.
func (in *Input) stream(ctx context.Context, from position) error {
	cfg, err := in.syncerConfig()
	if err != nil {
		return err
	}
	syncer := replication.NewBinlogSyncer(cfg)
	defer syncer.Close()
	events, err := syncer.StartSync(mysql.Position{Name: from.file, Pos: from.offset})
	if err != nil {
		return fmt.Errorf("reading the binlog from %s: %w", from, err)
	}
	in.log.Info("streaming changes", "from", from.String(), "server_id", in.serverID)
	s := &streamer{in: in, file: from.file, rels: map[tableName]*mappedTable{}, skip: from.events,
		settled: position{file: from.file, offset: from.offset}, handed: from, lastOut: time.Now()}
	for {
		wait := in.heartbeat - time.Since(s.lastOut)
		if len(s.pending) > 0 {
			wait = linger - time.Since(s.since)
		}
		ectx, cancel := context.WithTimeout(ctx, max(wait, time.Millisecond))
		ev, err := events.GetEvent(ectx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			if err := s.idle(ctx); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("reading the binlog: %w", err)
		}
		if !s.running {
			s.running = true
			in.loop.SetFailure(nil)
		}
		if err := s.handle(ctx, ev); err != nil {
			return err
		}
	}
}

// idle hands on what is pending once it waited long enough, and else,
// once per heartbeat, the position past what the other tables wrote.
func (s *streamer) idle(ctx context.Context) error {
	if len(s.pending) > 0 {
		return s.flush(ctx)
	}
	if s.tx == nil && s.settled != s.handed && time.Since(s.lastOut) >= s.in.heartbeat {
		if err := s.in.hand(ctx, nil, s.settled); err != nil {
			return err
		}
		s.handed, s.lastOut = s.settled, time.Now()
	}
	return nil
}

func (s *streamer) handle(ctx context.Context, ev *replication.BinlogEvent) error {
	h := ev.Header
	start := position{file: s.file, offset: h.LogPos - h.EventSize}
	switch e := ev.Event.(type) {
	case *replication.RotateEvent:
		s.file = string(e.NextLogName)
		if s.tx == nil {
			s.settled = position{file: s.file, offset: uint32(e.Position)}
		}
	case *replication.MariadbGTIDEvent:
		s.begin(start, e.GTID.String())
	case *replication.GTIDEvent:
		next, err := e.GTIDNext()
		gtid := ""
		if err == nil {
			gtid = next.String()
		}
		s.begin(start, gtid)
	case *replication.QueryEvent:
		return s.query(ctx, start, h, strings.TrimSpace(string(e.Query)))
	case *replication.XIDEvent:
		return s.end(ctx, h)
	case *replication.RowsEvent:
		return s.rows(ctx, h, e)
	}
	return nil
}

func (s *streamer) begin(start position, gtid string) {
	s.tx = &transaction{start: start, gtid: gtid, skip: s.skip}
	s.skip = 0
}

// query is a BEGIN, the COMMIT of a non-transactional table's changes, or
// a statement logged as such (DDL): a transaction of its own.
func (s *streamer) query(ctx context.Context, start position, h *replication.EventHeader, q string) error {
	switch {
	case strings.EqualFold(q, "BEGIN"):
		if s.tx == nil {
			s.begin(start, "")
		}
		s.tx.begun = true
		return nil
	case strings.EqualFold(q, "COMMIT"):
		return s.end(ctx, h)
	case s.tx != nil && s.tx.begun:
		return nil // a statement inside a transaction (SAVEPOINT)
	}
	return s.end(ctx, h)
}

// end closes the transaction at the event ending it: the pending batch
// then holds the rest of it, and its position is past it.
func (s *streamer) end(ctx context.Context, h *replication.EventHeader) error {
	s.tx = nil
	s.settled = position{file: s.file, offset: h.LogPos}
	if len(s.pending) > 0 {
		s.pendingPos = s.settled
		if time.Since(s.since) >= linger {
			return s.flush(ctx)
		}
	}
	return nil
}

func (s *streamer) rows(ctx context.Context, h *replication.EventHeader, e *replication.RowsEvent) error {
	t := tableName{string(e.Table.Schema), string(e.Table.Table)}
	if _, ok := s.in.server.tables[t]; !ok {
		return nil
	}
	if s.tx == nil {
		s.begin(position{file: s.file, offset: h.LogPos - h.EventSize}, "")
	}
	rel, err := s.relation(t, e.Table)
	if err != nil {
		return capture.Fatal(err)
	}
	op, step := engine.OpCreate, 1
	switch h.EventType {
	case replication.UPDATE_ROWS_EVENTv0, replication.UPDATE_ROWS_EVENTv1, replication.UPDATE_ROWS_EVENTv2,
		replication.MARIADB_UPDATE_ROWS_COMPRESSED_EVENT_V1, replication.PARTIAL_UPDATE_ROWS_EVENT:
		op, step = engine.OpUpdate, 2
	case replication.DELETE_ROWS_EVENTv0, replication.DELETE_ROWS_EVENTv1, replication.DELETE_ROWS_EVENTv2,
		replication.MARIADB_DELETE_ROWS_COMPRESSED_EVENT_V1:
		op = engine.OpDelete
	}
	o := origin{at: time.Unix(int64(h.Timestamp), 0), file: s.file, offset: h.LogPos - h.EventSize, gtid: s.tx.gtid,
		serverID: h.ServerID, snapshot: "false"}
	for i := 0; i+step <= len(e.Rows); i += step {
		s.tx.events++
		if s.tx.events <= s.tx.skip {
			continue
		}
		o.row = i / step
		if err := s.change(ctx, rel, op, e.Rows[i:i+step], o); err != nil {
			return err
		}
	}
	return nil
}

func (s *streamer) change(ctx context.Context, rel *relation, op engine.Operation, images [][]any, o origin) error {
	// A change that cannot become a record stops the capture before it:
	// reading the binlog again would meet it again, and skipping it would
	// lose it.
	var before, after map[string]any
	var err error
	switch op {
	case engine.OpCreate:
		after, err = rel.row(images[0])
	case engine.OpDelete:
		before, err = rel.row(images[0])
	case engine.OpUpdate:
		if before, err = rel.row(images[0]); err == nil {
			after, err = rel.row(images[1])
		}
	}
	if err != nil {
		return capture.Fatalf("change at %s:%d: %w", o.file, o.offset, err)
	}
	recs, err := s.in.records(rel, op, before, after, o)
	if err != nil {
		return capture.Fatalf("%s, change at %s:%d: %w", rel.table, o.file, o.offset, err)
	}
	if len(s.pending) == 0 {
		s.since = time.Now()
	}
	s.pending = append(s.pending, recs...)
	s.pendingPos = position{file: s.tx.start.file, offset: s.tx.start.offset, events: s.tx.events}
	if len(s.pending) >= s.in.batchMax {
		return s.flush(ctx)
	}
	return nil
}

// mappedTable is a table as the last table map event described it.
type mappedTable struct {
	types []byte
	meta  []uint16
	names []string
	key   []uint64
	rel   *relation
}

// relation decodes a table as its table map describes it: the same as
// before unless an ALTER TABLE changed it.
func (s *streamer) relation(t tableName, tm *replication.TableMapEvent) (*relation, error) {
	names := tm.ColumnNameString()
	if m, ok := s.rels[t]; ok && bytes.Equal(m.types, tm.ColumnType) && slices.Equal(m.meta, tm.ColumnMeta) &&
		slices.Equal(m.names, names) && slices.Equal(m.key, tm.PrimaryKey) {
		return m.rel, nil
	}
	cols, err := binlogColumns(tm, s.in.mapping)
	if err != nil {
		return nil, err
	}
	rel := s.in.newRelation(t, cols, keyColumns(tm, cols))
	s.rels[t] = &mappedTable{types: bytes.Clone(tm.ColumnType), meta: slices.Clone(tm.ColumnMeta), names: slices.Clone(names),
		key: slices.Clone(tm.PrimaryKey), rel: rel}
	return rel, nil
}

func (s *streamer) flush(ctx context.Context) error {
	if err := s.in.hand(ctx, s.pending, s.pendingPos); err != nil {
		return err
	}
	s.handed, s.lastOut = s.pendingPos, time.Now()
	s.pending = nil
	return nil
}
