package sqlpoll

import (
	"fmt"
	"time"

	"github.com/pipelinehq/pipeline/engine"
)

// Modes, as Kafka Connect's JDBC source names them.
const (
	modeBulk                  = "bulk"
	modeIncrementing          = "incrementing"
	modeTimestamp             = "timestamp"
	modeTimestampIncrementing = "timestamp+incrementing"
)

var modes = []string{modeBulk, modeIncrementing, modeTimestamp, modeTimestampIncrementing}

func usesTimestamp(mode string) bool {
	return mode == modeTimestamp || mode == modeTimestampIncrementing
}

func usesIncrementing(mode string) bool {
	return mode == modeIncrementing || mode == modeTimestampIncrementing
}

// Position fields.
const (
	fieldTimestamp    = "timestamp"    // RFC 3339 with nanoseconds, UTC: exact, and readable in `pipeline positions`
	fieldIncrementing = "incrementing" // the incrementing column's value
)

// cursor is where a poll stands: the timestamp and incrementing values of
// the last row read (those the mode uses). set is false before the first
// row: the query then has no lower bound.
type cursor struct {
	set bool
	ts  time.Time
	inc int64
}

// position is the cursor as an engine position, in the mode's fields.
func (c cursor) position(mode string) engine.Position {
	var p engine.Position
	if !c.set {
		return p
	}
	if usesTimestamp(mode) {
		p = p.WithString(fieldTimestamp, c.ts.UTC().Format(time.RFC3339Nano))
	}
	if usesIncrementing(mode) {
		p = p.WithInt(fieldIncrementing, c.inc)
	}
	return p
}

// cursorOf reads a committed position back; it must have the fields of
// mode (a position committed under another mode is an error, not a guess).
func cursorOf(mode string, p engine.Position) (cursor, error) {
	c := cursor{set: true}
	if usesTimestamp(mode) {
		s, err := p.Str(fieldTimestamp)
		if err != nil {
			return c, fmt.Errorf("committed position %s does not fit mode %s (was the mode changed? `pipeline positions` shows it; reset it to start over): %w", p, mode, err)
		}
		if c.ts, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return c, fmt.Errorf("committed position %s: %w", p, err)
		}
	}
	if usesIncrementing(mode) {
		var err error
		if c.inc, err = p.Int(fieldIncrementing); err != nil {
			return c, fmt.Errorf("committed position %s does not fit mode %s (was the mode changed? `pipeline positions` shows it; reset it to start over): %w", p, mode, err)
		}
	}
	return c, nil
}

// after reports whether c comes strictly after prev in the mode's order:
// what every row must, once it was read in ORDER BY order after prev. In
// timestamp mode rows may share a timestamp.
func (c cursor) after(prev cursor, mode string) bool {
	if !prev.set {
		return true
	}
	switch mode {
	case modeIncrementing:
		return c.inc > prev.inc
	case modeTimestamp:
		return !c.ts.Before(prev.ts)
	case modeTimestampIncrementing:
		return c.ts.After(prev.ts) || (c.ts.Equal(prev.ts) && c.inc > prev.inc)
	}
	return true
}

func (c cursor) String() string {
	if !c.set {
		return "the start"
	}
	return fmt.Sprintf("timestamp %s, incrementing %d", c.ts.UTC().Format(time.RFC3339Nano), c.inc)
}
