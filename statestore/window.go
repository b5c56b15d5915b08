package statestore

import "math"

// WindowStore is a named window store, split into one shard per input
// partition.
type WindowStore struct {
	shards shardSet[WindowShard]
}

// Shard returns the store's shard for one input partition, creating it.
func (s *WindowStore) Shard(partition string) *WindowShard {
	return s.shards.get(partition)
}

// WindowShard is one partition's part of a window store. A window is (key,
// start, end), times in milliseconds; it is stored twice, by key
// ([key][start][end], for sessions and hopping lookups) and by end
// ([end][key][start], for closing and retention), both kept by Put and
// Delete. A shard is used by one goroutine at a time and takes no locks.
type WindowShard struct {
	s    *shard
	kbuf []byte
	ebuf []byte
}

// Get returns the value of a window. The value must not be modified; it
// stays valid until the next Put or Delete of that window on this shard.
func (w *WindowShard) Get(key []byte, start, end int64) ([]byte, bool, error) {
	w.kbuf = windowKeySuffix(w.kbuf[:0], key, start, end)
	return w.s.get(w.kbuf)
}

// Put sets a window's value (copied) in the write cache.
func (w *WindowShard) Put(key []byte, start, end int64, value []byte) {
	w.kbuf = windowKeySuffix(w.kbuf[:0], key, start, end)
	w.ebuf = windowEndSuffix(w.ebuf[:0], key, start, end)
	e := w.s.set(w.kbuf, value)
	w.s.setShared(w.ebuf, e.value)
}

// Delete deletes a window.
func (w *WindowShard) Delete(key []byte, start, end int64) {
	w.kbuf = windowKeySuffix(w.kbuf[:0], key, start, end)
	w.ebuf = windowEndSuffix(w.ebuf[:0], key, start, end)
	w.s.del(w.kbuf)
	w.s.del(w.ebuf)
}

// FetchKey calls fn for the windows of key whose start is in [startFrom,
// startTo], ascending by start then end; fn returning false stops. Values
// are valid only during the call.
func (w *WindowShard) FetchKey(key []byte, startFrom, startTo int64, fn func(start, end int64, value []byte) bool) error {
	if startFrom > startTo {
		return nil
	}
	from := appendTime(appendLenPrefixed([]byte{winByKey}, key), startFrom)
	to := prefixEnd(appendTime(appendLenPrefixed([]byte{winByKey}, key), startTo))
	var perr error
	err := w.s.scan(from, to, func(suffix, value []byte) bool {
		_, start, end, err := parseWindowKeySuffix(suffix)
		if err != nil {
			perr = err
			return false
		}
		return fn(start, end, value)
	})
	if err != nil {
		return err
	}
	return perr
}

// EndingBefore calls fn for the windows with end < the given end, ascending
// by end (then key, then start); fn returning false stops. Keys and values
// are valid only during the call; fn may delete the window it is given.
func (w *WindowShard) EndingBefore(end int64, fn func(key []byte, start, end int64, value []byte) bool) error {
	return w.EndingBeforeAfter(nil, end, fn)
}

// WindowPos is a window's place in the end order, where a later
// EndingBeforeAfter resumes a scan that stopped.
type WindowPos struct {
	Key        []byte
	Start, End int64
}

// EndingBeforeAfter is EndingBefore resuming after pos (nil: from the
// start). A long scan done in parts resumes this way instead of stepping
// again over the windows its earlier parts deleted.
func (w *WindowShard) EndingBeforeAfter(pos *WindowPos, end int64, fn func(key []byte, start, end int64, value []byte) bool) error {
	if end == math.MinInt64 {
		return nil
	}
	return w.endingBetween(pos, math.MinInt64, end, fn)
}

// EndingBetween calls fn for the windows with from <= end < to, ascending by
// end (then key, then start), as EndingBefore does.
func (w *WindowShard) EndingBetween(from, to int64, fn func(key []byte, start, end int64, value []byte) bool) error {
	return w.endingBetween(nil, from, to, fn)
}

func (w *WindowShard) endingBetween(pos *WindowPos, fromEnd, end int64, fn func(key []byte, start, end int64, value []byte) bool) error {
	if end == math.MinInt64 || fromEnd >= end {
		return nil
	}
	from := []byte{winByEnd}
	if fromEnd != math.MinInt64 {
		from = appendTime(from, fromEnd)
	}
	if pos != nil {
		// Just past pos: its suffix followed by a zero byte.
		from = append(windowEndSuffix(nil, pos.Key, pos.Start, pos.End), 0)
	}
	to := appendTime([]byte{winByEnd}, end)
	var perr error
	err := w.s.scan(from, to, func(suffix, value []byte) bool {
		key, start, end, err := parseWindowEndSuffix(suffix)
		if err != nil {
			perr = err
			return false
		}
		return fn(key, start, end, value)
	})
	if err != nil {
		return err
	}
	return perr
}
