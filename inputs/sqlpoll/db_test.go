package sqlpoll

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/enginetest"
	"github.com/pipelinehq/pipeline/internal/dbtest"
)

type testDB = dbtest.Database

var forEachDB = dbtest.ForEach

// newInput builds a sql_poll input from YAML fields (dsn and driver added).
func newInput(t *testing.T, db testDB, fields string) *Input {
	t.Helper()
	fields = fmt.Sprintf("driver: %s\ndsn: %q\npoll_interval: 50ms\n%s", db.Driver, db.DSN, fields)
	return enginetest.NewInput(t, Plugin(), "sql", fields).(*Input)
}

// started is newInput, resumed from points and started; it is closed by
// the test's cleanup.
func started(t *testing.T, db testDB, fields string, points ...engine.Checkpoint) *Input {
	t.Helper()
	in := newInput(t, db, fields)
	enginetest.StartInput(t, in, points...)
	return in
}

// readBatches reads until n records came, failing after 20s.
func readBatches(t *testing.T, in *Input, n int) []engine.InputBatch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []engine.InputBatch
	got := 0
	for got < n {
		b, err := in.Read(ctx)
		if err != nil {
			t.Fatalf("after %d of %d records: %v", got, n, err)
		}
		out = append(out, b)
		got += len(b.Records)
	}
	if got != n {
		t.Fatalf("read %d records, want %d", got, n)
	}
	return out
}

// nothingMore checks that no record comes within a few polls.
func nothingMore(t *testing.T, in *Input) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if b, err := in.Read(ctx); err == nil {
		t.Fatalf("unexpected batch of %d records: %s", len(b.Records), values(t, b.Records))
	}
}

func values(t *testing.T, recs []*engine.Record) string {
	t.Helper()
	var parts []string
	for _, r := range recs {
		v, err := r.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, string(r.Key)+"="+string(v))
	}
	return strings.Join(parts, "\n")
}

func allRecords(bs []engine.InputBatch) []*engine.Record {
	var out []*engine.Record
	for _, b := range bs {
		out = append(out, b.Records...)
	}
	return out
}
