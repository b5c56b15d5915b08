package statestore

import (
	"encoding/binary"
	"errors"
)

// Badger key layout. The first byte is a namespace:
//
//	0x00 "format"                       the on-disk format version
//	0x01 kind store partition suffix    shard data (see shardPrefix)
//	0x02 name                           committed metadata
//	0x03 "commit"                       a commit in progress (torn if found on Open)
//
// A shard's prefix is 0x01, its kind ('k' key-value, 'w' windows), then the
// store name and the partition, each preceded by its length as a uvarint, so
// ("a", "bc") and ("ab", "c") never collide and no shard prefix is a prefix of
// another. Within a key-value shard the suffix is the user key. Within a
// window shard it is one of
//
//	'K' len(key) key start end    by key, for FetchKey (sessions, hopping)
//	'E' end len(key) key start    by end, for EndingBefore (closing, retention)
//
// with times as 8 bytes big-endian with the sign bit flipped, so that byte
// order is numeric order, negative times included.
const (
	nsFormat = 0x00
	nsShard  = 0x01
	nsMeta   = 0x02
	nsMarker = 0x03

	kindKV     = 'k'
	kindWindow = 'w'

	winByKey = 'K'
	winByEnd = 'E'

	formatVersion = "1"
)

var (
	formatKey = []byte{nsFormat, 'f', 'o', 'r', 'm', 'a', 't'}
	markerKey = []byte{nsMarker, 'c', 'o', 'm', 'm', 'i', 't'}
)

var errCorruptKey = errors.New("statestore: corrupt key")

// shardPrefix is the Badger key prefix of one shard.
func shardPrefix(kind byte, store, partition string) []byte {
	b := make([]byte, 0, 2+2*binary.MaxVarintLen32+len(store)+len(partition))
	b = append(b, nsShard, kind)
	b = binary.AppendUvarint(b, uint64(len(store)))
	b = append(b, store...)
	b = binary.AppendUvarint(b, uint64(len(partition)))
	b = append(b, partition...)
	return b
}

// parseShardPrefix splits a shard data key into its shard's identity and the
// length of the prefix.
func parseShardPrefix(key []byte) (id shardID, n int, err error) {
	if len(key) < 2 || key[0] != nsShard {
		return id, 0, errCorruptKey
	}
	id.kind = key[1]
	rest := key[2:]
	store, rest, ok := readLenPrefixed(rest)
	if !ok {
		return id, 0, errCorruptKey
	}
	part, rest, ok := readLenPrefixed(rest)
	if !ok {
		return id, 0, errCorruptKey
	}
	id.store, id.partition = string(store), string(part)
	return id, len(key) - len(rest), nil
}

func metaKey(name string) []byte {
	return append([]byte{nsMeta}, name...)
}

// appendTime appends t as 8 big-endian bytes with the sign bit flipped.
func appendTime(b []byte, t int64) []byte {
	return binary.BigEndian.AppendUint64(b, uint64(t)^(1<<63))
}

func readTime(b []byte) int64 {
	return int64(binary.BigEndian.Uint64(b) ^ (1 << 63))
}

func appendLenPrefixed(b, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func readLenPrefixed(b []byte) (s, rest []byte, ok bool) {
	n, w := binary.Uvarint(b)
	if w <= 0 || uint64(len(b)-w) < n {
		return nil, nil, false
	}
	return b[w : w+int(n)], b[w+int(n):], true
}

// windowKeySuffix is 'K' len(key) key start end.
func windowKeySuffix(b, key []byte, start, end int64) []byte {
	b = append(b, winByKey)
	b = appendLenPrefixed(b, key)
	b = appendTime(b, start)
	return appendTime(b, end)
}

// windowEndSuffix is 'E' end len(key) key start.
func windowEndSuffix(b, key []byte, start, end int64) []byte {
	b = append(b, winByEnd)
	b = appendTime(b, end)
	b = appendLenPrefixed(b, key)
	return appendTime(b, start)
}

func parseWindowKeySuffix(s []byte) (key []byte, start, end int64, err error) {
	if len(s) < 1 || s[0] != winByKey {
		return nil, 0, 0, errCorruptKey
	}
	key, rest, ok := readLenPrefixed(s[1:])
	if !ok || len(rest) != 16 {
		return nil, 0, 0, errCorruptKey
	}
	return key, readTime(rest), readTime(rest[8:]), nil
}

func parseWindowEndSuffix(s []byte) (key []byte, start, end int64, err error) {
	if len(s) < 9 || s[0] != winByEnd {
		return nil, 0, 0, errCorruptKey
	}
	end = readTime(s[1:])
	key, rest, ok := readLenPrefixed(s[9:])
	if !ok || len(rest) != 8 {
		return nil, 0, 0, errCorruptKey
	}
	return key, readTime(rest), end, nil
}

// prefixEnd is the smallest key greater than every key starting with p, or
// nil if there is none (p is empty or all 0xff).
func prefixEnd(p []byte) []byte {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] != 0xff {
			end := make([]byte, i+1)
			copy(end, p)
			end[i]++
			return end
		}
	}
	return nil
}
