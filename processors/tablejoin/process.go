package tablejoin

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/processors/internal/joinside"
	"github.com/pipelinehq/pipeline/statestore"
)

// The join of one record, step by step as Kafka Streams'
// KStreamKTableJoinProcessor and KTableKTable{Inner,Left,Right,Outer}Join
// do it (unversioned tables, no caching), so that the same changes in the
// same order give the same results in the same order.

// unknownTimestamp is Kafka Streams' UNKNOWN: no row on the other side.
const unknownTimestamp = -1

// row is a table's row of a key: its timestamp and value.
type row struct {
	ts    int64
	value any
}

// processRecord joins one record of a side; emit says whether res is a
// result.
func (j *Join) processRecord(s *statestore.KeyValueShard, side int, r *engine.Record) (res *engine.Record, emit bool, err error) {
	if !j.tableTable && side == joinside.Left {
		return j.joinStream(s, r)
	}
	if r.Key == nil {
		j.dropped.Inc()
		return nil, false, nil
	}
	// The table's source first updates its store, then forwards the
	// change: the new value, and the old one where the join asked for it.
	old, err := j.read(s, side, r.Key)
	if err != nil {
		return nil, false, err
	}
	if err := j.write(s, side, r); err != nil {
		return nil, false, err
	}
	if !j.tableTable {
		return nil, false, nil // a stream–table join's table only updates
	}
	newValue, err := r.Value()
	if err != nil {
		return nil, false, err
	}
	other, err := j.read(s, 1-side, r.Key)
	if err != nil {
		return nil, false, err
	}
	return j.joinChange(r, side, newValue, old, other)
}

// joinStream joins a stream record with the table's row of its key.
func (j *Join) joinStream(s *statestore.KeyValueShard, r *engine.Record) (*engine.Record, bool, error) {
	isLeft := j.outerSide[joinside.Left]
	if r.IsTombstone() || (r.Key == nil && !isLeft) {
		j.dropped.Inc()
		return nil, false, nil
	}
	v, err := r.Value()
	if err != nil {
		return nil, false, err
	}
	var table *row
	if r.Key != nil {
		if table, err = j.read(s, joinside.Right, r.Key); err != nil {
			return nil, false, err
		}
	}
	if table == nil && !isLeft {
		return nil, false, nil
	}
	var right any
	if table != nil {
		right = table.value
	}
	res, err := j.makeResult(r, r.Timestamp, v, right, false)
	return res, err == nil, err
}

// joinChange is the result of a change of a table's row: newValue (nil: a
// delete) replacing old, the other table's row being other (nil: none).
//
// Kafka Streams' sources send the old value only to the outer sides of a
// join (the left of a left join, both of an outer join), and only those
// sides tell a delete of a row that never was from one that was.
func (j *Join) joinChange(r *engine.Record, side int, newValue any, old, other *row) (*engine.Record, bool, error) {
	hasOld := j.outerSide[side] && old != nil
	resultTS := r.Timestamp
	switch {
	case other != nil:
		resultTS = max(r.Timestamp, other.ts)
	case !j.outerSide[side]:
		return nil, false, nil // an inner side with no partner: nothing
	case newValue == nil && !hasOld:
		return nil, false, nil
	case j.outerSide[1-side]:
		// outer join: the result's timestamp is the record's
	default:
		resultTS = max(r.Timestamp, unknownTimestamp)
	}
	var otherValue any
	if other != nil {
		otherValue = other.value
	}
	// A right change of a left join (Kafka Streams' KTableKTableRightJoin)
	// joins the left row with the new right value, nil included.
	rightOfLeftJoin := side == joinside.Right && !j.outerSide[joinside.Right] && j.outerSide[joinside.Left]
	tombstone := newValue == nil && !rightOfLeftJoin && !(j.outerSide[side] && j.outerSide[1-side] && other != nil)
	l, rt := newValue, otherValue
	if side == joinside.Right {
		l, rt = otherValue, newValue
	}
	res, err := j.makeResult(r, resultTS, l, rt, tombstone)
	return res, err == nil, err
}

// read is a side's row of a key; nil: none.
func (j *Join) read(s *statestore.KeyValueShard, side int, key []byte) (*row, error) {
	b, found, err := s.Get(rowKey(side, key))
	if err != nil || !found {
		return nil, err
	}
	if len(b) < 9 {
		return nil, errCorruptRow
	}
	rec, err := engine.StoredRecord(b[8:])
	if err != nil {
		return nil, fmt.Errorf("the %s table's row: %w", joinside.Name(side), err)
	}
	v, err := rec.Value()
	if err != nil {
		return nil, fmt.Errorf("the %s table's row: %w", joinside.Name(side), err)
	}
	return &row{ts: int64(binary.BigEndian.Uint64(b)), value: v}, nil
}

// write puts a record's value as a side's row of its key, or deletes the
// row for a tombstone.
func (j *Join) write(s *statestore.KeyValueShard, side int, r *engine.Record) error {
	k := rowKey(side, r.Key)
	if r.IsTombstone() {
		s.Delete(k)
		return nil
	}
	if _, err := r.Value(); err != nil {
		return err
	}
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 64), uint64(r.Timestamp))
	s.Put(k, append(b, engine.StoredValue(r)...))
	return nil
}

var errCorruptRow = errors.New("a corrupt table row in the join's state")

// rowSpace is, by side, the first byte of its rows' keys.
var rowSpace = [2]byte{joinside.Left: 'l', joinside.Right: 'r'}

// rowKey is where a side's row of a key is kept.
func rowKey(side int, key []byte) []byte {
	return append([]byte{rowSpace[side]}, key...)
}
