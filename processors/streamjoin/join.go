package streamjoin

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/pipelinehq/pipeline/engine"
)

// The join of one record, step by step as Kafka Streams'
// KStreamKStreamJoin.process does it, so that the same events in the same
// order give the same results in the same order.

// result is one joined (or unmatched) record, or why it could not be made.
type result struct {
	rec *engine.Record
	err error
}

// bounds are how far before and after a record of side the other side's
// records join it.
func (j *Join) bounds(side byte) (before, after int64) {
	if side == leftSide {
		return j.before, j.after
	}
	return j.after, j.before
}

// processRecord joins one record of a side.
func (j *Join) processRecord(s *shardState, side byte, r *engine.Record) ([]result, error) {
	m := &s.meta
	ts := r.Timestamp
	if ts > m.streamTime {
		m.streamTime, s.changed = ts, true
	}
	switch {
	case r.Key == nil && !r.IsTombstone() && j.outerSide[side]:
		j.unmatched.Inc()
		return []result{j.unmatchedResult(r, side, r.Key, ts, r)}, nil
	case r.Key == nil || r.IsTombstone():
		j.dropped.Inc()
		return nil, nil
	}
	var results []result
	if j.keepUnmatched && ts == m.streamTime {
		closed, err := j.emitClosed(s, side, r)
		if err != nil {
			return nil, err
		}
		results = append(results, closed...)
	}
	before, after := j.bounds(side)
	from, to := max(0, ts-before), max(0, ts+after)
	other := otherSide(side)
	// The other side's buffer holds nothing older than its retention
	// behind the latest timestamp it stored.
	from = max(from, m.observed[other]-j.retention()+1)
	var matchedAt []int64
	if from <= to {
		prefix := bufferPrefix(other, r.Key)
		err := s.kv.Range(appendTime(prefix, from), prefixEnd(appendTime(prefix, to)), func(k, v []byte) bool {
			otherTS := readTime(k[len(prefix):])
			matchedAt = append(matchedAt, otherTS)
			results = append(results, j.matchResult(r, side, ts, otherTS, v))
			return true
		})
		if err != nil {
			return nil, err
		}
	}
	matches := len(matchedAt)
	if j.keepUnmatched {
		// The other side's records just matched are matched: out of the
		// outer store (Kafka Streams' putIfAbsent(otherKey, null)).
		for _, t := range matchedAt {
			if err := deletePrefix(s.kv, outerPrefix(t, other, r.Key)); err != nil {
				return nil, err
			}
		}
	}
	j.matched.Add(float64(matches))
	if matches == 0 && j.outerSide[side] {
		if to < m.streamTime {
			// Its window closed before it came: nothing can match it any more.
			j.unmatched.Inc()
			results = append(results, j.unmatchedResult(r, side, r.Key, ts, r))
		} else {
			m.minTime, s.changed = min(m.minTime, ts), true
			s.kv.Put(outerKey(ts, side, r.Key, j.nextSeq(s)), encodeBuffered(r))
		}
	}
	j.buffer(s, side, r)
	return results, nil
}

func otherSide(side byte) byte { return 1 - side }

func (j *Join) nextSeq(s *shardState) uint64 {
	s.meta.seq++
	s.changed = true
	return s.meta.seq
}

// buffer keeps a record in its side's window buffer, and drops from it
// what is now past retention.
func (j *Join) buffer(s *shardState, side byte, r *engine.Record) {
	m := &s.meta
	if r.Timestamp > m.observed[side] {
		m.observed[side], s.changed = r.Timestamp, true
	}
	cutoff := m.observed[side] - j.retention() + 1
	if r.Timestamp >= cutoff {
		seq := j.nextSeq(s)
		s.kv.Put(bufferKey(side, r.Key, r.Timestamp, seq), encodeBuffered(r))
		s.kv.Put(expiryKey(side, r.Timestamp, r.Key, seq), nil)
	}
	j.expire(s, side, cutoff)
}

// expire deletes a side's buffered records older than cutoff.
func (j *Join) expire(s *shardState, side byte, cutoff int64) {
	prefix := []byte{expirySpace, side}
	var gone [][]byte
	_ = s.kv.Range(prefix, appendTime(prefix, cutoff), func(k, _ []byte) bool {
		gone = append(gone, append([]byte(nil), k...))
		return true
	})
	for _, k := range gone {
		t := readTime(k[2:])
		key, rest, err := readOrderedKey(k[10:])
		if err != nil || len(rest) != 8 {
			continue
		}
		s.kv.Delete(bufferKey(side, key, t, binary.BigEndian.Uint64(rest)))
		s.kv.Delete(k)
	}
}

// emitClosed emits the unmatched records whose window has closed, as
// Kafka Streams' emitNonJoinedOuterRecords, triggered by a record of side
// at stream time.
func (j *Join) emitClosed(s *shardState, side byte, trigger *engine.Record) ([]result, error) {
	m := &s.meta
	_, after := j.bounds(side)
	// minTime is none only when nothing waits (Kafka Streams' overflowing
	// sum then runs the scan over nothing).
	if m.minTime == maxTime || m.minTime+after+j.grace >= m.streamTime {
		return nil, nil
	}
	m.minTime, s.changed = maxTime, true
	var results []result
	open := [2]bool{}
	err := j.scanUnmatched(s, func(t int64, entrySide byte, key []byte, rec func() (*engine.Record, error)) (emit, more bool, err error) {
		m.minTime = t
		if open[leftSide] && open[rightSide] {
			return false, false, nil
		}
		if t+j.lookBack(entrySide)+j.grace >= m.streamTime {
			open[entrySide] = true
			return false, true, nil
		}
		r, err := rec()
		if err != nil {
			return false, false, err
		}
		r.Source = trigger.Source
		results = append(results, j.unmatchedResult(r, entrySide, key, t, r))
		return true, true, nil
	})
	return results, err
}

// scanUnmatched walks the outer store in order, calling visit with each
// waiting record (rec decodes it, its key and timestamp set); the records
// visit says to emit are deleted once the walk is over, and counted.
func (j *Join) scanUnmatched(s *shardState, visit func(t int64, side byte, key []byte, rec func() (*engine.Record, error)) (emit, more bool, err error)) error {
	var emitted [][]byte
	var visitErr error
	err := s.kv.Range([]byte{outerSpace}, []byte{outerSpace + 1}, func(k, v []byte) bool {
		t, side, key, err := parseOuterKey(k)
		if err != nil {
			visitErr = err
			return false
		}
		rec := func() (*engine.Record, error) {
			r, err := decodeBuffered(v)
			if err == nil {
				r.Key, r.Timestamp = key, t
			}
			return r, err
		}
		emit, more, err := visit(t, side, key, rec)
		if emit {
			emitted = append(emitted, append([]byte(nil), k...))
		}
		visitErr = err
		return more && err == nil
	})
	for _, k := range emitted {
		s.kv.Delete(k)
	}
	j.unmatched.Add(float64(len(emitted)))
	return cmp.Or(err, visitErr)
}

const maxTime = int64(^uint64(0) >> 1)

// lookBack is how long after its timestamp an unmatched record of side may
// still be matched: the window's far end, seen from that side.
func (j *Join) lookBack(side byte) int64 {
	if side == leftSide {
		return j.after
	}
	return j.before
}

// matchResult is a record of side joined with a buffered record of the
// other side, at the later of their timestamps.
func (j *Join) matchResult(r *engine.Record, side byte, ts, otherTS int64, stored []byte) result {
	other, err := decodeBuffered(stored)
	if err != nil {
		return result{err: err}
	}
	thisValue, err := r.Value()
	if err != nil {
		return result{err: err}
	}
	otherValue, err := other.Value()
	if err != nil {
		return result{err: fmt.Errorf("the buffered %s record at %d: %w", sideName(otherSide(side)), otherTS, err)}
	}
	l, rt := thisValue, otherValue
	if side == rightSide {
		l, rt = otherValue, thisValue
	}
	return j.makeResult(r, r.Key, max(ts, otherTS), l, rt)
}

// unmatchedResult is a record of side that found no match.
func (j *Join) unmatchedResult(parent *engine.Record, side byte, key []byte, ts int64, r *engine.Record) result {
	v, err := r.Value()
	if err != nil {
		return result{err: err}
	}
	if side == leftSide {
		return j.makeResult(parent, key, ts, v, nil)
	}
	return j.makeResult(parent, key, ts, nil, v)
}

// makeResult builds a result record: the key, the timestamp, the parent's
// headers, and the value of l and r.
func (j *Join) makeResult(parent *engine.Record, key []byte, ts int64, l, r any) result {
	rec, err := j.value.Result(parent, key, ts, l, r)
	return result{rec: rec, err: err}
}

// encodeBuffered is a record as buffered: its headers, then its stored
// value.
func encodeBuffered(r *engine.Record) []byte {
	b := binary.AppendUvarint(nil, uint64(len(r.Headers)))
	for _, h := range r.Headers {
		b = binary.AppendUvarint(b, uint64(len(h.Key)))
		b = append(b, h.Key...)
		b = binary.AppendUvarint(b, uint64(len(h.Value)))
		b = append(b, h.Value...)
	}
	return append(b, engine.StoredValue(r)...)
}

var errCorruptBuffered = errors.New("a corrupt buffered record in the join's state")

func decodeBuffered(b []byte) (*engine.Record, error) {
	n, w := binary.Uvarint(b)
	if w <= 0 {
		return nil, errCorruptBuffered
	}
	b = b[w:]
	headers := make([]engine.Header, 0, n)
	for range n {
		var parts [2][]byte
		for i := range parts {
			l, w := binary.Uvarint(b)
			if w <= 0 || uint64(len(b)-w) < l {
				return nil, errCorruptBuffered
			}
			parts[i] = append([]byte(nil), b[w:w+int(l)]...)
			b = b[w+int(l):]
		}
		headers = append(headers, engine.Header{Key: string(parts[0]), Value: parts[1]})
	}
	rec, err := engine.StoredRecord(append([]byte(nil), b...))
	if err != nil {
		return nil, err
	}
	rec.Headers = headers
	return rec, nil
}
