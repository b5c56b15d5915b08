package aggregate

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"

	"github.com/pipelinehq/pipeline/engine"
)

// Sliding windows, as in Kafka Streams: every record at t defines a left
// window [t-size, t] and, when later records fall in it, a right window
// [t+1, t+1+size]. A window's result folds the records inside it, so the
// records stay in state (as their evaluated operation arguments) until no
// open window can contain them.

type bufferedRecord struct {
	TS     int64 `json:"t"`
	Values []any `json:"v"`
}

// decodeBuffered reads a buffered record as engine decodes record values,
// so that its numbers come back exactly (json.Unmarshal would make every
// one a float64, rounding integers beyond 2^53).
func decodeBuffered(b []byte) (bufferedRecord, error) {
	v, err := engine.DecodeJSON(b)
	if err != nil {
		return bufferedRecord{}, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	m, _ := v.(map[string]any)
	ts, tsOK := m["t"].(int64)
	values, valuesOK := m["v"].([]any)
	if !tsOK || (!valuesOK && m["v"] != nil) {
		return bufferedRecord{}, fmt.Errorf("%w: a buffered record is %s", errCorrupt, b)
	}
	return bufferedRecord{TS: ts, Values: values}, nil
}

func timeKey(ts int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(ts)^(1<<63)) }

// bufferKey orders records by time, then key, then offset.
func bufferKey(ts int64, key []byte, offset int64) []byte {
	k := timeKey(ts)
	k = append(k, key...)
	k = append(k, 0) // JSON never holds a raw 0 byte: the key ends here
	return binary.BigEndian.AppendUint64(k, uint64(offset))
}

func (a *Aggregate) addToSliding(part string, r *engine.Record, key []byte, ts, st int64) ([]*engine.Record, error) {
	size := a.win.size
	if !a.win.open(window{ts, ts + size}, st) {
		return nil, errLate // no window holding ts can be open
	}
	values := make([]any, len(a.ops))
	for i, o := range a.ops {
		v, err := o.argument(r)
		if err != nil {
			return nil, err
		}
		values[i] = v
	}
	buffer := a.records.Shard(part)
	enc, err := json.Marshal(bufferedRecord{TS: ts, Values: values})
	if err != nil {
		return nil, err
	}

	// Every record of this key that can share a window with the new one,
	// in the buffer's order, the new one as it will be read back.
	self, err := decodeBuffered(enc)
	if err != nil {
		return nil, err
	}
	selfKey := bufferKey(ts, key, r.Offset)
	var near []bufferedRecord
	var decodeErr error
	err = buffer.Range(timeKey(ts-2*size-2), timeKey(ts+2*size+3), func(k, v []byte) bool {
		if !bytes.Equal(k[8:len(k)-9], key) {
			return true
		}
		if self.Values != nil && bytes.Compare(selfKey, k) < 0 {
			near, self.Values = append(near, self), nil
		}
		var br bufferedRecord
		if br, decodeErr = decodeBuffered(v); decodeErr != nil {
			return false
		}
		near = append(near, br)
		return true
	})
	if err == nil {
		err = decodeErr
	}
	if err != nil {
		return nil, err
	}
	if self.Values != nil {
		near = append(near, self)
	}

	affected := []window{{ts - size, ts}}
	seen := map[window]bool{affected[0]: true}
	addWindow := func(w window) {
		if !seen[w] {
			seen[w] = true
			affected = append(affected, w)
		}
	}
	hasRight := false
	for _, o := range near {
		switch {
		case o.TS >= ts && o.TS <= ts+size:
			addWindow(window{o.TS - size, o.TS})
		case o.TS >= ts-1-size && o.TS <= ts-1:
			addWindow(window{o.TS + 1, o.TS + 1 + size})
		}
		if o.TS > ts && o.TS <= ts+1+size {
			hasRight = true
		}
	}
	if hasRight {
		addWindow(window{ts + 1, ts + 1 + size})
	}

	var open []window
	holds := false // an open window holds the record (its own right window does not)
	for _, w := range affected {
		if a.win.open(w, st) {
			open = append(open, w)
			holds = holds || (w.start <= ts && ts <= w.end)
		}
	}
	if !holds {
		// Not behind every window it could be in, but each that holds it
		// has closed: late, and kept out of windows made later.
		return nil, errLate
	}
	buffer.Put(selfKey, enc)
	shard := a.windows.Shard(part)
	var results []*engine.Record
	for _, w := range open {
		states := make([]opState, len(a.ops))
		for _, o := range near {
			if o.TS < w.start || o.TS > w.end {
				continue
			}
			for i, op := range a.ops {
				if err := op.addValue(&states[i], o.Values[i], o.TS); err != nil {
					return nil, err
				}
			}
		}
		shard.Put(key, w.start, w.end, appendStates(nil, states))
		results = append(results, a.result(r, key, &w, states))
	}
	return results, nil
}

// dropExpiredRecords forgets records no open window can hold any more.
func (a *Aggregate) dropExpiredRecords(part string, st int64) {
	bound := st - a.win.grace - a.win.size - 1
	if bound <= math.MinInt64+1 {
		return
	}
	buffer := a.records.Shard(part)
	var expired [][]byte
	_ = buffer.Range(timeKey(math.MinInt64), timeKey(bound), func(k, _ []byte) bool {
		expired = append(expired, append([]byte(nil), k...))
		return true
	})
	for _, k := range expired {
		buffer.Delete(k)
	}
}
