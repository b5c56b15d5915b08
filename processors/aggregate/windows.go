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

// closesAfter is the stream time up to which the window still accepts
// records: it closes when stream time passes it.
//
// Sessions differ: a session record at t is late once t + gap + grace is
// behind stream time, and a record within the gap of two sessions bridges
// them. A session [s, e] can be reached by an accepted record only while
// stream time is at most e + 2*gap + grace, so it closes after that and
// never changes once closed.
func (w windowing) closesAfter(win window) int64 {
	if w.kind == session {
		return win.end + 2*w.gap + w.grace
	}
	return win.end + w.grace
}

// closeBound is the end below which every window is closed at stream time st.
func (w windowing) closeBound(st int64) int64 {
	if w.kind == session {
		return st - w.grace - 2*w.gap
	}
	return st - w.grace
}

// sessionLate reports whether a record at ts is too late for any session.
func (w windowing) sessionLate(ts, st int64) bool {
	return ts+w.gap+w.grace < st
}
