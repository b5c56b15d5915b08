package kafka

import (
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kgo"
)

// recordBatchOverhead is a record batch's header: what a batch of one
// record adds to the record.
const recordBatchOverhead = 61

// recordBatchBytes is at least the size of a batch holding only r, as the
// producer lays it out (Kafka's record format v2), so that a record it
// accepts is never failed by the producer for its size. The record's
// timestamp and offset deltas are counted at their widest.
func recordBatchBytes(r *kgo.Record) int {
	body := 1 + // attributes
		binary.MaxVarintLen64 + // timestamp delta
		binary.MaxVarintLen32 + // offset delta
		bytesField(r.Key) + bytesField(r.Value) +
		varintLen(len(r.Headers))
	for _, h := range r.Headers {
		body += varintLen(len(h.Key)) + len(h.Key) + bytesField(h.Value)
	}
	return recordBatchOverhead + varintLen(body) + body
}

// bytesField is a nullable byte field: its length (-1 for null), then it.
func bytesField(b []byte) int {
	if b == nil {
		return varintLen(-1)
	}
	return varintLen(len(b)) + len(b)
}

func varintLen(n int) int {
	var buf [binary.MaxVarintLen64]byte
	return binary.PutVarint(buf[:], int64(n))
}
