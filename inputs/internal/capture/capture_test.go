package capture

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/engine"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func records(n int) []*engine.Record {
	recs := make([]*engine.Record, n)
	for i := range recs {
		recs[i] = &engine.Record{Key: []byte{byte('a' + i)}}
	}
	return recs
}

// The snapshot's batches: full ones handed on with the rows they end, one
// row always kept back for the last, the first row marked.
func TestSnapshotBatches(t *testing.T) {
	var marked []*engine.Record
	s := NewSnapshot(3, func(r *engine.Record) { marked = append(marked, r) })
	var flushed [][]*engine.Record
	var rowsAt []int64
	flush := func(b []*engine.Record, rows int64) error {
		flushed, rowsAt = append(flushed, b), append(rowsAt, rows)
		return nil
	}
	rows := records(8)
	for _, r := range rows {
		if err := s.Add([]*engine.Record{r}, flush); err != nil {
			t.Fatal(err)
		}
	}
	if len(marked) != 1 || marked[0] != rows[0] {
		t.Errorf("marked %v, want the first row alone", marked)
	}
	if len(flushed) != 2 || len(flushed[0]) != 3 || len(flushed[1]) != 3 || rowsAt[0] != 3 || rowsAt[1] != 6 {
		t.Fatalf("flushed %d batches at rows %v, want two of 3 at rows 3 and 6", len(flushed), rowsAt)
	}
	if rest := s.Rest(); len(rest) != 2 || rest[0] != rows[6] || rest[1] != rows[7] || s.Rows() != 8 {
		t.Fatalf("rest %v after %d rows, want the last two of 8", rest, s.Rows())
	}
	// A batch handed on is not written over by the rows after it.
	if flushed[0][0] != rows[0] || flushed[1][2] != rows[5] {
		t.Error("a flushed batch changed after it was handed on")
	}
	failing := NewSnapshot(1, func(*engine.Record) {})
	_ = failing.Add(records(1), flush)
	if err := failing.Add(records(1), func([]*engine.Record, int64) error { return io.ErrClosedPipe }); err != io.ErrClosedPipe {
		t.Errorf("a failed hand-off gave %v", err)
	}
}

func TestProgressRoundTrips(t *testing.T) {
	for _, p := range []Progress{{Snapshot: true, Rows: 0}, {Snapshot: true, Rows: 42}, {Events: 0}, {Events: 7}} {
		got, err := ProgressOf(p.With(engine.IntPosition("lsn", 9)))
		if err != nil || got != p {
			t.Errorf("%+v came back as %+v, %v", p, got, err)
		}
	}
	for _, ep := range []engine.Position{engine.IntPosition("lsn", 1).WithInt("events", -1), engine.IntPosition("lsn", 1).WithInt("snapshot_rows", -2), engine.IntPosition("lsn", 1)} {
		if _, err := ProgressOf(ep); err == nil {
			t.Errorf("%s: no error", ep)
		}
	}
}

func TestResumedTakesItsPartitionOnly(t *testing.T) {
	parse := func(ep engine.Position) (int64, error) { return ep.Int("n") }
	got, err := Resumed([]engine.Checkpoint{{Partition: "other", Position: engine.IntPosition("n", 1)}, {Partition: "binlog", Position: engine.IntPosition("n", 5)}},
		"binlog", parse, slog.New(slog.DiscardHandler), "input.x")
	if err != nil || got == nil || *got != 5 {
		t.Fatalf("got %v, %v", got, err)
	}
	if got, err := Resumed(nil, "binlog", parse, slog.New(slog.DiscardHandler), "input.x"); got != nil || err != nil {
		t.Errorf("nothing committed gave %v, %v", got, err)
	}
	if _, err := Resumed([]engine.Checkpoint{{Partition: "binlog", Position: engine.IntPosition("m", 5)}}, "binlog", parse, slog.New(slog.DiscardHandler), "input.x"); err == nil || !strings.HasPrefix(err.Error(), "input.x: ") {
		t.Errorf("a position that does not parse gave %v", err)
	}
}

// A session that fails is run again, Ready saying why meanwhile; a fatal
// failure reaches Read without its mark and ends the sessions.
func TestLoopRetriesThenStopsAtFatal(t *testing.T) {
	l := NewLoop("x_cdc", "slot s", slog.New(slog.DiscardHandler))
	var runs atomic.Int32
	l.Start(context.Background(), func(ctx context.Context) error {
		switch runs.Add(1) {
		case 1:
			return errors.New("connection refused")
		case 2:
			if err := l.Hand(ctx, engine.InputBatch{Partition: "p"}, nil); err != nil {
				return err
			}
			return errors.New("connection reset")
		}
		return Fatalf("wal_level is replica")
	})
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := l.Read(ctx)
	if err != nil || b.Partition != "p" {
		t.Fatalf("first read: %v, %v", b, err)
	}
	_, err = l.Read(ctx)
	if err == nil || err.Error() != "wal_level is replica" || IsFatal(err) {
		t.Fatalf("got %v, want the fatal error without its mark", err)
	}
	if r := l.Ready(); r == nil || r.Error() != "x_cdc slot s: wal_level is replica" {
		t.Errorf("Ready: %v", r)
	}
	if runs.Load() != 3 {
		t.Errorf("%d sessions, want 3", runs.Load())
	}
}

// io.EOF ends the capture as the end of the input: Ready stays nil.
func TestLoopEndsAtEOF(t *testing.T) {
	l := NewLoop("x_cdc", "", slog.New(slog.DiscardHandler))
	l.Start(context.Background(), func(context.Context) error { return io.EOF })
	defer l.Close()
	if _, err := l.Read(context.Background()); err != io.EOF {
		t.Fatalf("got %v", err)
	}
	if err := l.Ready(); err != nil {
		t.Errorf("Ready: %v", err)
	}
}

type keepAlive struct{ sent atomic.Int32 }

func (k *keepAlive) Due() <-chan time.Time      { return time.After(5 * time.Millisecond) }
func (k *keepAlive) Send(context.Context) error { k.sent.Add(1); return nil }

// While Read is slow, Hand keeps the session's keep-alive going; Close
// ends a session waiting in Hand.
func TestHandKeepsAliveUntilReadOrClose(t *testing.T) {
	l := NewLoop("x_cdc", "", slog.New(slog.DiscardHandler))
	k := &keepAlive{}
	handed := make(chan error, 1)
	l.Start(context.Background(), func(ctx context.Context) error {
		handed <- l.Hand(ctx, engine.InputBatch{}, k)
		<-ctx.Done()
		return ctx.Err()
	})
	time.Sleep(100 * time.Millisecond)
	l.Close()
	if err := <-handed; !errors.Is(err, context.Canceled) {
		t.Errorf("Hand after Close: %v", err)
	}
	// At least one: a count of them would time the scheduler, not Hand.
	if k.sent.Load() == 0 {
		t.Error("no keep-alive in 100ms while Read did not take the batch")
	}
	if _, err := l.Read(context.Background()); err == nil {
		t.Error("Read after Close: no error")
	}
}
