package mysqlcdc

import (
	"context"
	"database/sql"
	"fmt"
	"io"

	"github.com/pipelinehq/pipeline/inputs/internal/capture"
)

// runOnce connects, learns the server and the tables again, and then
// snapshots or streams as the mode and the position say.
func (in *Input) runOnce(ctx context.Context) error {
	db, err := in.connect(ctx)
	if err != nil {
		return err
	}
	from, err := in.prepare(ctx, db)
	db.Close()
	if err != nil {
		return err
	}
	return in.stream(ctx, from)
}

// prepare finds where streaming starts: the position handed on last, or
// committed, or the end of a snapshot it reads first.
func (in *Input) prepare(ctx context.Context, db *sql.DB) (position, error) {
	srv, err := in.checkServer(ctx, db)
	if err != nil {
		return position{}, err
	}
	if srv.tables, err = in.resolveTables(ctx, db); err != nil {
		return position{}, err
	}
	in.server = srv
	in.mu.Lock()
	from := in.handedOn
	in.mu.Unlock()
	if from == nil {
		from = in.resumed
	}
	switch {
	case from != nil && !from.snapshot && in.snapshotMode == capture.SnapshotInitialOnly:
		return position{}, io.EOF
	case from != nil && !from.snapshot:
		gone, err := binlogGone(ctx, db, from.file)
		if err != nil || !gone {
			return *from, err
		}
		if in.snapshotMode != capture.SnapshotWhenNeeded {
			return position{}, capture.Fatalf("binlog file %s of the committed position (%s) is no longer on the server: the "+
				"changes since are gone from the binlog. snapshot_mode: when_needed reads the tables again", from.file, from)
		}
		in.log.Warn("the committed binlog file is gone; reading the tables again", "position", from.String())
	case from == nil && in.snapshotMode == capture.SnapshotNoData:
		end, err := binlogEnd(ctx, db)
		if err != nil {
			return position{}, err
		}
		// Committed at once, so that a restart before the first change
		// does not begin later, past it.
		return end, in.hand(ctx, nil, end)
	case from != nil:
		in.log.Info("the snapshot was cut short; reading the tables again", "position", from.String())
	}
	end, err := in.snapshot(ctx, db)
	if err == nil && in.snapshotMode == capture.SnapshotInitialOnly {
		return position{}, io.EOF
	}
	return end, err
}

// binlogGone reports whether the server no longer has the binlog file.
func binlogGone(ctx context.Context, db *sql.DB, file string) (bool, error) {
	rows, err := db.QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		return false, fmt.Errorf("listing the binlog files: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return false, err
	}
	for rows.Next() {
		vals := make([]any, len(cols))
		var name string
		vals[0] = &name
		for i := 1; i < len(vals); i++ {
			vals[i] = new(sql.RawBytes)
		}
		if err := rows.Scan(vals...); err != nil {
			return false, err
		}
		if name == file {
			return false, nil
		}
	}
	return true, rows.Err()
}
