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
	if !j.tableTable {
		return nil, false, j.write(s, side, r) // a stream–table join's table only updates
	}
	// The table's source first updates its store, then forwards the
	// change: the new value, and whether there was an old one, where the
	// join asked for it (its outer sides).
	hadOld := false
	if j.outerSide[side] {
		if _, hadOld, err = s.Get(rowKey(side, r.Key)); err != nil {
			return nil, false, err
		}
	}
	if err := j.write(s, side, r); err != nil {
		return nil, false, err
	}
	newValue, err := r.Value()
	if err != nil {
		return nil, false, err
	}
	other, err := j.read(s, 1-side, r.Key)
	if err != nil {
		return nil, false, err
	}
	return j.joinChange(r, side, newValue, hadOld, other)
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
// delete), on an outer side hadOld telling whether it replaced a row, the
// other table's row being other (nil: none).
//
// Kafka Streams' sources send the old value only to the outer sides of a
// join (the left of a left join, both of an outer join), so only those
// sides tell a delete of a row that never was from one that was. The
// joiner runs when the new value is there, or when the other side has a
// row and is itself an outer side (a right change of a left join, Kafka
// Streams' KTableKTableRightJoin, joins the left row with the new right
// value, nil included); otherwise the result is a tombstone.
func (j *Join) joinChange(r *engine.Record, side int, newValue any, hadOld bool, other *row) (*engine.Record, bool, error) {
	if other == nil && (!j.outerSide[side] || (newValue == nil && !hadOld)) {
		return nil, false, nil // no partner for an inner side, or a delete of nothing
	}
	resultTS, otherValue := r.Timestamp, any(nil)
	if other != nil {
		resultTS, otherValue = max(r.Timestamp, other.ts), other.value
	}
	tombstone := newValue == nil && (other == nil || !j.outerSide[1-side])
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
