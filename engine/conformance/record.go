package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/engine"
)

// Record is a record as the suite puts it into a source, writes it to an
// output, or reads it back from a sink.
type Record struct {
	Key []byte
	// Value is nil for a tombstone (a record without a value); an empty
	// value is a value.
	Value   []byte
	Headers []engine.Header
	// Timestamp is the event time in milliseconds; inputs ignore it.
	Timestamp int64
}

// String shows the record in failure messages.
func (r Record) String() string {
	v := "<no value>"
	if r.Value != nil {
		v = fmt.Sprintf("%q", r.Value)
	}
	s := fmt.Sprintf("{key %q value %s", r.Key, v)
	for _, h := range r.Headers {
		s += fmt.Sprintf(" header %s=%q", h.Key, h.Value)
	}
	if r.Timestamp != 0 {
		s += fmt.Sprintf(" timestamp %d", r.Timestamp)
	}
	return s + "}"
}

// ValuesOnly returns recs without their keys, headers and timestamps: what
// a source that keeps values alone (a file, standard input) reads back.
func ValuesOnly(recs []Record) []Record {
	out := make([]Record, len(recs))
	for i, r := range recs {
		out[i] = Record{Value: r.Value}
	}
	return out
}

// value is the suite's value of record i: a small JSON object, so that it
// passes every codec (lines, JSON lines, a CSV cell, Kafka's json).
func value(i int) []byte { return fmt.Appendf(nil, `{"n":%d,"s":"r%d"}`, i, i) }

// key is the suite's key of record i: a handful of keys, so that a keyed
// source spreads them over its partitions.
func key(i int) []byte { return fmt.Appendf(nil, "k%d", i%5) }

// headers are the suite's headers of record i: none, one, or two.
func headers(i int) []engine.Header {
	switch i % 3 {
	case 1:
		return []engine.Header{{Key: "h", Value: fmt.Appendf(nil, "v%d", i)}}
	case 2:
		return []engine.Header{{Key: "a", Value: []byte("1")}, {Key: "b", Value: fmt.Appendf(nil, "%d", i)}}
	}
	return nil
}

// suiteRecords are the records from..to-1 the suite puts or writes.
func suiteRecords(from, to int) []Record {
	recs := make([]Record, 0, to-from)
	for i := from; i < to; i++ {
		recs = append(recs, Record{Key: key(i), Value: value(i), Headers: headers(i), Timestamp: 1_700_000_000_000 + int64(i)})
	}
	return recs
}

// sameValue compares values, telling a tombstone (nil) from an empty value.
func sameValue(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

// sameHeaders compares headers in order; none and an empty list are the
// same.
func sameHeaders(a, b []engine.Header) bool {
	return slices.EqualFunc(a, b, func(x, y engine.Header) bool { return x.Key == y.Key && bytes.Equal(x.Value, y.Value) })
}

// check runs one check as a subtest.
func check(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	t.Run(name, f)
}

// safely calls f, turning a panic into an error that names what panicked.
func safely(what string, f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &panicError{what: what, value: p}
		}
	}()
	return f()
}

type panicError struct {
	what  string
	value any
}

func (e *panicError) Error() string { return fmt.Sprintf("%s panicked: %v", e.what, e.value) }

// within runs f and fails the test when it does not return within d. A
// call that hangs is left behind (and goleak reports it): the test cannot
// stop it.
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
	}
}

// positionField is one field of a position, as its JSON shows it.
type positionField struct {
	name  string
	num   int64
	isStr bool
	str   string
}

// fieldsOf lists a position's fields in order.
func fieldsOf(p engine.Position) ([]positionField, error) {
	b, err := p.MarshalJSON()
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	var fields []positionField
	for dec.More() {
		name, err := dec.Token()
		if err != nil {
			return nil, err
		}
		v, err := dec.Token()
		if err != nil {
			return nil, err
		}
		f := positionField{name: name.(string)}
		switch v := v.(type) {
		case json.Number:
			if f.num, err = v.Int64(); err != nil {
				return nil, err
			}
		default:
			f.isStr = true
			f.str = fmt.Sprint(v)
		}
		fields = append(fields, f)
	}
	return fields, nil
}
