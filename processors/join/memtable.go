package join

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
)

// memTable is the table held in memory: every row's key and stored value
// in one arena, found through a map from the key's hash to its newest
// entry. Neither holds a pointer, so the garbage collector never scans the
// rows: a map[string][]byte of a million rows cost the join a fifth of its
// time in collection.
//
// An entry is the offset (plus one) of the previous entry of the same
// hash, 0 for none, as 8 bytes; then the key and the value, each after its
// length as a uvarint. A change appends an entry and unlinks the old one;
// the arena is compacted once most of it is dead.
type memTable struct {
	hash  func(key []byte) uint64
	index map[uint64]uint64 // hash → 1 + offset of the newest entry
	arena []byte
	live  int // bytes of live entries
}

func newMemTable() *memTable {
	seed := maphash.MakeSeed()
	return &memTable{hash: func(key []byte) uint64 { return maphash.Bytes(seed, key) }, index: map[uint64]uint64{}}
}

// memIndexOverhead approximates what one key costs in the index.
const memIndexOverhead = 24

// size approximates the bytes the table holds.
func (t *memTable) size() int { return len(t.arena) + len(t.index)*memIndexOverhead }

// get returns key's stored value; valid until the next change.
func (t *memTable) get(key []byte) ([]byte, bool) {
	return t.find(t.head(key), key)
}

// head is the newest entry of key's hash (1 + offset, 0: none). A batch
// looks up every head before reading any entry: the index reads of a large
// table are cache misses, and independent ones overlap.
func (t *memTable) head(key []byte) uint64 { return t.index[t.hash(key)] }

// find returns key's stored value from the chain at head.
func (t *memTable) find(head uint64, key []byte) ([]byte, bool) {
	for at := head; at != 0; {
		next, k, v := t.entry(at - 1)
		if bytes.Equal(k, key) {
			return v, true
		}
		at = next
	}
	return nil, false
}

// set makes value key's row.
func (t *memTable) set(key, value []byte) {
	h := t.hash(key)
	head := t.unlink(h, key)
	before := len(t.arena)
	t.index[h] = t.appendEntry(head, key, value)
	t.live += len(t.arena) - before
	t.maybeCompact()
}

// del removes key's row.
func (t *memTable) del(key []byte) {
	h := t.hash(key)
	if head := t.unlink(h, key); head == 0 {
		delete(t.index, h)
	} else {
		t.index[h] = head
	}
	t.maybeCompact()
}

// unlink takes key's entry out of the chain of hash h and returns the
// chain's head without it.
func (t *memTable) unlink(h uint64, key []byte) (head uint64) {
	head = t.index[h]
	var prev uint64 // 1 + offset of the entry before, 0: the head
	for at := head; at != 0; {
		next, k, _ := t.entry(at - 1)
		if !bytes.Equal(k, key) {
			prev, at = at, next
			continue
		}
		t.live -= t.entryLen(at - 1)
		if prev == 0 {
			return next
		}
		binary.BigEndian.PutUint64(t.arena[prev-1:], next)
		return head
	}
	return head
}

// appendEntry appends an entry and returns 1 + its offset.
func (t *memTable) appendEntry(next uint64, key, value []byte) uint64 {
	at := uint64(len(t.arena))
	t.arena = binary.BigEndian.AppendUint64(t.arena, next)
	t.arena = binary.AppendUvarint(t.arena, uint64(len(key)))
	t.arena = append(t.arena, key...)
	t.arena = binary.AppendUvarint(t.arena, uint64(len(value)))
	t.arena = append(t.arena, value...)
	return at + 1
}

// entry reads the entry at off.
func (t *memTable) entry(off uint64) (next uint64, key, value []byte) { return readEntry(t.arena, off) }

func readEntry(arena []byte, off uint64) (next uint64, key, value []byte) {
	b := arena[off:]
	next = binary.BigEndian.Uint64(b)
	b = b[8:]
	n, w := binary.Uvarint(b)
	key, b = b[w:w+int(n)], b[w+int(n):]
	n, w = binary.Uvarint(b)
	return next, key, b[w : w+int(n)]
}

func (t *memTable) entryLen(off uint64) int {
	_, k, v := t.entry(off)
	return 8 + uvarintLen(len(k)) + len(k) + uvarintLen(len(v)) + len(v)
}

func uvarintLen(n int) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], uint64(n))
}

// maybeCompact copies the live entries to a new arena once dead ones are
// most of it.
func (t *memTable) maybeCompact() {
	if len(t.arena) < 1<<20 || t.live*2 > len(t.arena) {
		return
	}
	old := t.arena
	t.arena = make([]byte, 0, t.live+t.live/4)
	for h, at := range t.index {
		var head, tail uint64 // in the new arena, 1 + offset
		for at != 0 {
			next, k, v := readEntry(old, at-1)
			copied := t.appendEntry(0, k, v)
			if tail != 0 {
				binary.BigEndian.PutUint64(t.arena[tail-1:], copied)
			} else {
				head = copied
			}
			tail, at = copied, next
		}
		t.index[h] = head
	}
}
