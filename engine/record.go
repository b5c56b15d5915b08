package engine

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Format says how a record's value bytes are to be read.
type Format uint8

const (
	// Text values are seen by expressions as a string.
	Text Format = iota
	// JSON values are decoded on first use; expressions see maps, lists,
	// strings, numbers, booleans and nil.
	JSON
	// Binary values are seen by expressions as bytes, never decoded: for
	// values in a format no expression reads (Avro, Protobuf) that pass
	// through or are routed by key, headers and metadata.
	Binary
)

// Header is one record header. Headers keep their order and may repeat.
type Header struct {
	Key   string
	Value []byte
}

// Source describes where a record came from. One Source is shared by all
// records of a partition, so records carry only a pointer to it.
type Source struct {
	Input     string // the input's label
	Partition string // a file path, "topic/3", a table
	// Meta holds further input-specific fields for expressions (`meta.topic`).
	Meta map[string]any
}

// Operation is the change a record stands for, when its source is a table
// (CDC, SQL polling): Debezium's op codes. A plain record has none.
type Operation uint8

const (
	OpNone   Operation = iota
	OpCreate           // "c": a row inserted
	OpUpdate           // "u": a row changed; the record may carry the row before
	OpDelete           // "d": a row deleted; the value is a tombstone, the row before may come with it
	OpRead             // "r": a row read by a snapshot
)

var opCodes = [...]string{OpNone: "", OpCreate: "c", OpUpdate: "u", OpDelete: "d", OpRead: "r"}

// String is the op code: "c", "u", "d", "r", or "" for none.
func (o Operation) String() string {
	if int(o) < len(opCodes) {
		return opCodes[o]
	}
	return "?"
}

// ParseOperation reads an op code, or its name (create, update, delete,
// read).
func ParseOperation(s string) (Operation, error) {
	switch s {
	case "":
		return OpNone, nil
	case "c", "create":
		return OpCreate, nil
	case "u", "update":
		return OpUpdate, nil
	case "d", "delete":
		return OpDelete, nil
	case "r", "read":
		return OpRead, nil
	}
	return OpNone, fmt.Errorf("unknown operation %q: want c (create), u (update), d (delete) or r (read)", s)
}

// Record is one message moving through a pipeline.
//
// A value is held as bytes, as a decoded value, or both. Bytes are decoded
// once, on first use by an expression, and encoded again only when a
// processor changed the value, so a record that passes through untouched is
// never decoded or re-encoded. A record without a value (nil bytes read, or
// a value set to nil) is a tombstone: Kafka's deletion of its key.
//
// A record may stand for a change of a table's row: Op says which, and
// Before holds the row as it was before an update or a delete, when the
// source gives it. Expressions see them as op and before.
type Record struct {
	Key       []byte
	Headers   []Header
	Timestamp int64 // event time, milliseconds since the Unix epoch
	Source    *Source
	Offset    int64 // position of the record within its source partition (line, Kafka offset)
	Op        Operation
	Before    any // the row before the change, decoded (nil: none)

	raw     []byte
	format  Format
	decoded any
	// state tells which of raw and decoded are valid.
	state valueState

	originalKey, originalValue []byte
	seq                        int32 // index in the input batch, to restore order after a branch
}

type valueState uint8

const (
	rawOnly valueState = iota
	decodedOnly
	rawAndDecoded
)

// NewRecord makes a record from value bytes read by an input; nil bytes
// make a tombstone. The bytes are kept as the record's original value for
// dead-letter output: the caller must not reuse them.
func NewRecord(value []byte, format Format) *Record {
	return &Record{raw: value, format: format, originalValue: value}
}

// NewDerived makes a record produced from parent (by flat_map or an
// aggregation): it keeps the parent's key, headers, timestamp and source.
func NewDerived(parent *Record, value any) *Record {
	r := new(Record)
	r.DeriveFrom(parent, value)
	return r
}

// DeriveFrom makes r a record derived from parent, as NewDerived does, so
// that a processor making many records can allocate them in one block.
func (r *Record) DeriveFrom(parent *Record, value any) {
	*r = Record{
		Key:           parent.Key,
		Headers:       parent.Headers,
		Timestamp:     parent.Timestamp,
		Source:        parent.Source,
		Offset:        parent.Offset,
		Op:            parent.Op,
		Before:        parent.Before,
		originalKey:   parent.originalKey,
		originalValue: parent.originalValue,
		seq:           parent.seq,
	}
	r.SetValue(value)
}

// SetKeyFromInput sets the key read by an input; it is also kept as the
// original key for dead-letter output.
func (r *Record) SetKeyFromInput(key []byte) {
	r.Key = key
	r.originalKey = key
}

// Value returns the record's value as expressions see it; nil for a
// tombstone.
func (r *Record) Value() (any, error) {
	if r.state != rawOnly {
		return r.decoded, nil
	}
	switch {
	case r.raw == nil:
		r.decoded = nil
	case r.format == JSON:
		v, err := DecodeJSON(r.raw)
		if err != nil {
			return nil, fmt.Errorf("value is not valid JSON: %v", err)
		}
		r.decoded = v
	case r.format == Binary:
		r.decoded = r.raw
	default:
		r.decoded = string(r.raw)
	}
	r.state = rawAndDecoded
	return r.decoded, nil
}

// IsTombstone reports whether the record has no value: nil bytes read, or
// a value set to nil. (The JSON text null read from an input is a value,
// kept as it was read.)
func (r *Record) IsTombstone() bool {
	if r.state == rawOnly {
		return r.raw == nil
	}
	return r.decoded == nil && (r.state == decodedOnly || r.raw == nil)
}

// checkDecodable reports the error Value would return, without decoding:
// JSON bytes are only validated, which is several times cheaper. A tombstone
// passes every codec.
func (r *Record) checkDecodable() error {
	if r.state != rawOnly || r.format != JSON || r.raw == nil || json.Valid(r.raw) {
		return nil
	}
	_, err := r.Value()
	return err
}

// SetValue replaces the value with a decoded one.
func (r *Record) SetValue(v any) {
	r.decoded = v
	r.raw = nil
	r.state = decodedOnly
}

// SetBytes replaces the value with bytes of the given format.
func (r *Record) SetBytes(b []byte, format Format) {
	r.raw, r.format, r.decoded, r.state = b, format, nil, rawOnly
}

// SetEncoded replaces the value with bytes of the given format and the
// value they decode to, so that neither is computed again: a processor
// that builds both at once (an aggregate's result) spares the next
// expression a decode. decoded must be what Value would return for b.
func (r *Record) SetEncoded(b []byte, format Format, decoded any) {
	r.raw, r.format, r.decoded, r.state = b, format, decoded, rawAndDecoded
}

// IsJSON reports whether the value's bytes are (or encode to) JSON rather
// than plain text.
func (r *Record) IsJSON() bool {
	if r.state == decodedOnly {
		_, isString := r.decoded.(string)
		_, isBytes := r.decoded.([]byte)
		return !isString && !isBytes
	}
	return r.format == JSON
}

// Bytes returns the value encoded for writing: text as is, anything else
// structured as JSON, nil for a tombstone.
func (r *Record) Bytes() ([]byte, error) {
	if r.state != decodedOnly {
		return r.raw, nil
	}
	if r.decoded == nil {
		return nil, nil
	}
	b, err := EncodeValue(r.decoded)
	if err != nil {
		return nil, err
	}
	r.raw = b
	r.format = JSON
	if _, ok := r.decoded.(string); ok {
		r.format = Text
	}
	r.state = rawAndDecoded
	return b, nil
}

// EncodeValue turns a decoded value into bytes: strings and byte slices as
// they are, everything else as JSON (see EncodeJSON: an *UnencodableError
// names the part of the value JSON cannot hold).
func EncodeValue(v any) ([]byte, error) {
	switch x := v.(type) {
	case string:
		return []byte(x), nil
	case []byte:
		return x, nil
	case nil:
		return []byte("null"), nil
	case int:
		return strconv.AppendInt(nil, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(nil, x, 10), nil
	}
	return EncodeJSON("value", v)
}

// Header returns the first header with the given key.
func (r *Record) Header(key string) ([]byte, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return h.Value, true
		}
	}
	return nil, false
}

// SetHeader replaces every header with the key by one with this value. The
// header slice is copied first: derived records may share their parent's.
func (r *Record) SetHeader(key string, value []byte) {
	out := make([]Header, 0, len(r.Headers)+1)
	for _, h := range r.Headers {
		if h.Key != key {
			out = append(out, h)
		}
	}
	r.Headers = append(out, Header{Key: key, Value: value})
}

// Original returns the key and value as the input read them.
func (r *Record) Original() (key, value []byte) { return r.originalKey, r.originalValue }

// Describe names the record for error messages: its partition and offset.
func (r *Record) Describe() string {
	if r.Source == nil {
		return "record"
	}
	return fmt.Sprintf("record at %s:%d", r.Source.Partition, r.Offset)
}

// Seq is the record's index in the input batch it came from; records derived
// from it share it. A processor that splits a batch (a branch) sorts by it to
// give the records back in input order.
func (r *Record) Seq() int { return int(r.seq) }
