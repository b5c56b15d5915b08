package pgcdc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pipelinehq/pipeline/inputs/internal/capture"
)

// ReadAsTable makes the input a join's table (Kafka Streams' global
// table): at each start it reads its tables whole, whatever snapshot_mode
// says, and then follows them through a temporary slot of its own, which
// the server drops when the connection ends, so that no instance leaves a
// slot holding WAL behind. It keeps no position, and confirms what it
// received. A lost connection ends it with an error: the changes of the
// gap are gone with the temporary slot, and only a new snapshot (the
// pipeline's next start) loads the table right again.
func (in *Input) ReadAsTable() error {
	suffix := make([]byte, 4)
	rand.Read(suffix)
	name := in.slot
	if len(name) > 63-14 {
		name = name[:63-14]
	}
	in.asTable, in.slot = true, name+"_table_"+hex.EncodeToString(suffix)
	return nil
}

// CaughtUp reports whether Read has returned every row of the snapshot.
func (in *Input) CaughtUp() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.caughtUp
}

// prepareTable takes the table's snapshot under a temporary slot made for
// it, and says so to a reader waiting on CaughtUp with a batch without
// records.
func (in *Input) prepareTable(ctx context.Context, conn *pgx.Conn, repl *pgconn.PgConn, tables []tableName, conv *converters) (position, error) {
	in.mu.Lock()
	again := in.tableSlotMade
	in.tableSlotMade = true
	in.mu.Unlock()
	if again {
		return position{}, capture.Fatalf("the table's replication connection was lost: its temporary slot %s went with it, and the "+
			"changes since cannot be followed; start the pipeline again to load the table anew", in.slot)
	}
	lsn, exported, err := in.createSlotWith(ctx, repl, true, true)
	if err != nil {
		return position{}, err
	}
	if err := in.snapshot(ctx, conn, tables, exported, lsn, conv); err != nil {
		return position{}, err
	}
	in.mu.Lock()
	in.caughtUp = true
	in.mu.Unlock()
	start := position{lsn: lsn}
	if err := in.hand(ctx, nil, start, nil); err != nil {
		return position{}, fmt.Errorf("slot %s: %w", in.slot, err)
	}
	return start, nil
}
