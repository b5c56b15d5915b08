package aggregate

import "time"

// Window kinds.
const (
	unwindowed = ""
	tumbling   = "tumbling"
	hopping    = "hopping"
	sliding    = "sliding"
	session    = "session"
)

// windowing is a window definition in milliseconds of event time.
type windowing struct {
	kind                      string
	size, advance, gap, grace int64
}

// window is one window's bounds: [start, end) for tumbling and hopping,
// [start, end] for sliding and session windows.
type window struct{ start, end int64 }

func ms(d time.Duration) int64 { return d.Milliseconds() }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// assign returns the epoch-aligned windows a timestamp falls in, ascending:
// one for tumbling, size/advance for hopping.
func (w windowing) assign(ts int64) []window {
	switch w.kind {
	case tumbling:
		start := floorDiv(ts, w.size) * w.size
		return []window{{start, start + w.size}}
	case hopping:
		var out []window
		first := floorDiv(ts-w.size, w.advance)*w.advance + w.advance
		for start := first; start <= ts; start += w.advance {
			out = append(out, window{start, start + w.size})
		}
		return out
	}
	return nil
}

// The rules below are Kafka Streams' (4.x: KStreamWindowAggregate,
// KStreamSessionWindowAggregate, and the session store's retention), so
// that results agree with it record for record; sliding windows follow
// their definition (see sliding.go).
//
//   - tumbling, hopping [start, end): open while stream time < end + grace;
//     closed (final) once stream time ≥ end + grace.
//   - session [start, end]: open while end + gap + grace > stream time; a
//     record is accepted when the session it makes (merged with the open
//     sessions within gap of it) has end + gap + grace ≥ stream time.
//   - sliding [start, end]: open while stream time ≤ end + grace.

// open reports whether a window still takes records at stream time st.
func (w windowing) open(win window, st int64) bool {
	switch w.kind {
	case session:
		return win.end+w.gap+w.grace > st
	case sliding:
		return win.end+w.grace >= st
	}
	return win.end+w.grace > st
}

// closeBound is the end below which every window is closed at stream time
// st: the first end an open window can have.
func (w windowing) closeBound(st int64) int64 {
	switch w.kind {
	case session:
		return st - w.gap - w.grace + 1
	case sliding:
		return st - w.grace
	}
	return st - w.grace + 1
}

// sessionLate reports whether a session made or extended at stream time st
// to end at end is too late to be taken.
func (w windowing) sessionLate(end, st int64) bool {
	return end+w.gap+w.grace < st
}
