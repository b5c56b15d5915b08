package streamjoin

import (
	"encoding/binary"
	"errors"
	"math"

	"github.com/pipelinehq/pipeline/statestore"
)

// Sides, as Kafka Streams orders them in its outer-join store: right
// before left at the same timestamp.
const (
	rightSide byte = 0
	leftSide  byte = 1
)

// Key spaces of the shard.
const (
	bufferSpace byte = 'b' // side, key, time, seq → buffered record
	expirySpace byte = 'x' // side, time, key, seq → nothing: the buffer by time
	outerSpace  byte = 'o' // time, side, key, seq → unmatched record
	metaSpace   byte = 'm'
)

var metaKey = []byte{metaSpace}

// noTimestamp is Kafka Streams' ConsumerRecord.NO_TIMESTAMP: no record
// seen yet.
const noTimestamp = -1

// shardMeta is a shard's clocks.
type shardMeta struct {
	streamTime int64    // the latest timestamp of either side (Kafka Streams' shared time tracker)
	minTime    int64    // the earliest unmatched timestamp stored, as Kafka Streams tracks it; MaxInt64: none
	observed   [2]int64 // by side: the latest timestamp stored in its buffer
	seq        uint64   // the next record's sequence number
}

func newShardMeta() shardMeta {
	return shardMeta{streamTime: noTimestamp, minTime: math.MaxInt64, observed: [2]int64{noTimestamp, noTimestamp}}
}

func (m shardMeta) encode() []byte {
	b := make([]byte, 0, 40)
	for _, v := range []int64{m.streamTime, m.minTime, m.observed[0], m.observed[1]} {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	return binary.BigEndian.AppendUint64(b, m.seq)
}

func decodeShardMeta(b []byte) (shardMeta, error) {
	if len(b) != 40 {
		return shardMeta{}, errors.New("the join's stored clocks are corrupt")
	}
	at := func(i int) int64 { return int64(binary.BigEndian.Uint64(b[i*8:])) }
	return shardMeta{streamTime: at(0), minTime: at(1), observed: [2]int64{at(2), at(3)}, seq: uint64(at(4))}, nil
}

// appendTime keeps signed times in order as bytes.
func appendTime(b []byte, t int64) []byte {
	return binary.BigEndian.AppendUint64(b, uint64(t)^(1<<63))
}

func readTime(b []byte) int64 { return int64(binary.BigEndian.Uint64(b) ^ (1 << 63)) }

// appendOrderedKey appends a key so that keys keep their byte order and a
// key is never confused with a longer one: 0x00 is escaped as 0x00 0xff,
// and 0x00 0x00 ends it.
func appendOrderedKey(b, key []byte) []byte {
	for _, c := range key {
		b = append(b, c)
		if c == 0 {
			b = append(b, 0xff)
		}
	}
	return append(b, 0, 0)
}

// readOrderedKey reads a key appendOrderedKey wrote, and what follows it.
func readOrderedKey(b []byte) (key, rest []byte, err error) {
	for i := 0; i+1 < len(b); i++ {
		if b[i] != 0 {
			key = append(key, b[i])
			continue
		}
		switch b[i+1] {
		case 0:
			return key, b[i+2:], nil
		case 0xff:
			key = append(key, 0)
			i++
		default:
			return nil, nil, errors.New("a corrupt key in the join's state")
		}
	}
	return nil, nil, errors.New("a truncated key in the join's state")
}

func bufferPrefix(side byte, key []byte) []byte {
	return appendOrderedKey([]byte{bufferSpace, side}, key)
}

func bufferKey(side byte, key []byte, t int64, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(appendTime(bufferPrefix(side, key), t), seq)
}

func expiryKey(side byte, t int64, key []byte, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(appendOrderedKey(appendTime([]byte{expirySpace, side}, t), key), seq)
}

// outerPrefix is the unmatched records of one key, side and time.
func outerPrefix(t int64, side byte, key []byte) []byte {
	return appendOrderedKey(append(appendTime([]byte{outerSpace}, t), side), key)
}

func outerKey(t int64, side byte, key []byte, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(outerPrefix(t, side, key), seq)
}

// parseOuterKey reads an outer-store key.
func parseOuterKey(k []byte) (t int64, side byte, key []byte, err error) {
	if len(k) < 1+8+1 || k[0] != outerSpace {
		return 0, 0, nil, errors.New("a corrupt unmatched record in the join's state")
	}
	t, side = readTime(k[1:]), k[9]
	key, _, err = readOrderedKey(k[10:])
	return t, side, key, err
}

// prefixEnd is the first key after every key with the prefix.
func prefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// deletePrefix deletes every key with the prefix.
func deletePrefix(kv *statestore.KeyValueShard, prefix []byte) error {
	var keys [][]byte
	err := kv.Range(prefix, prefixEnd(prefix), func(k, _ []byte) bool {
		keys = append(keys, append([]byte(nil), k...))
		return true
	})
	for _, k := range keys {
		kv.Delete(k)
	}
	return err
}
