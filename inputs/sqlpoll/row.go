package sqlpoll

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/internal/sqldb"
)

// rowReader turns the scanned values of a result row into a record and
// its cursor.
type rowReader struct {
	mode     string
	names    []string
	convert  []func(any) (any, error)
	tsIdx    []int // the timestamp columns, in COALESCE order
	incIdx   int   // -1: none
	keyIdx   []int
	keyNames []string

	// The row is written as JSON straight away, as encoding/json writes a
	// map of it (names sorted, HTML characters escaped): building the map
	// and encoding it was most of the input's cost.
	order     []int    // the columns in the object's order
	fieldName [][]byte // each column's `"name":`
	converted []any    // the row's values, mapped (reused)
	size      int      // the last row's length, to size the next
}

// rowReader resolves the configured columns among a result's columns.
func (in *Input) rowReader(cols []*sql.ColumnType) (*rowReader, error) {
	r := &rowReader{mode: in.mode, incIdx: -1}
	index := map[string]int{}
	for i, c := range cols {
		name := c.Name()
		if _, dup := index[name]; dup {
			return nil, fmt.Errorf("%s has two columns named %q: give them distinct names (AS)", describeSource(in.src), name)
		}
		index[name] = i
		r.names = append(r.names, name)
		r.convert = append(r.convert, in.mapping.Converter(c.DatabaseTypeName()))
	}
	if err := r.prepareEncoding(); err != nil {
		return nil, err
	}
	find := func(field, name string) (int, error) {
		if i, ok := index[name]; ok {
			return i, nil
		}
		for n, i := range index {
			if strings.EqualFold(n, name) {
				return i, nil
			}
		}
		return -1, fmt.Errorf("%s: %s has no column %q (its columns: %s)", in.conf.FieldPath(field), describeSource(in.src),
			name, strings.Join(r.names, ", "))
	}
	for _, c := range in.tsColumns {
		i, err := find("timestamp_columns", c)
		if err != nil {
			return nil, err
		}
		r.tsIdx = append(r.tsIdx, i)
	}
	if in.incColumn != "" {
		i, err := find("incrementing_column", in.incColumn)
		if err != nil {
			return nil, err
		}
		r.incIdx = i
	}
	for _, c := range in.key {
		i, err := find("key_columns", c)
		if err != nil {
			return nil, err
		}
		r.keyIdx = append(r.keyIdx, i)
		r.keyNames = append(r.keyNames, r.names[i])
	}
	return r, nil
}

// prepareEncoding orders the columns by name and writes their names once.
func (r *rowReader) prepareEncoding() error {
	r.order = make([]int, len(r.names))
	for i := range r.order {
		r.order[i] = i
	}
	slices.SortFunc(r.order, func(a, b int) int { return strings.Compare(r.names[a], r.names[b]) })
	r.fieldName = r.fieldName[:0]
	for _, name := range r.names {
		quoted, err := json.Marshal(name)
		if err != nil {
			return err
		}
		r.fieldName = append(r.fieldName, append(quoted, ':'))
	}
	r.converted = make([]any, len(r.names))
	return nil
}

// cursor is the row's cursor, in the mode's columns.
func (r *rowReader) cursor(vals []any) (cursor, error) {
	c := cursor{set: r.mode != modeBulk}
	if len(r.tsIdx) > 0 {
		var err error
		found := false
		for _, i := range r.tsIdx {
			if vals[i] != nil {
				if c.ts, err = sqldb.CursorTime(vals[i]); err != nil {
					return c, fmt.Errorf("timestamp column %s %w", r.names[i], err)
				}
				found = true
				break
			}
		}
		if !found {
			return c, fmt.Errorf("every timestamp column is NULL")
		}
	}
	if r.incIdx >= 0 {
		var err error
		if c.inc, err = sqldb.CursorInt(vals[r.incIdx]); err != nil {
			return c, fmt.Errorf("incrementing column %s %w", r.names[r.incIdx], err)
		}
	}
	return c, nil
}

// record makes the row's record: a JSON object of every column, keyed by
// the key columns, timed by the row's timestamp (else readAt).
func (r *rowReader) record(vals []any, readAt int64) (*engine.Record, cursor, error) {
	c, err := r.cursor(vals)
	if err != nil {
		return nil, c, err
	}
	for i, v := range vals {
		if r.converted[i], err = r.convert[i](v); err != nil {
			return nil, c, fmt.Errorf("column %s: %w", r.names[i], err)
		}
	}
	rec := r.encode()
	rec.Timestamp = readAt
	if len(r.tsIdx) > 0 {
		rec.Timestamp = c.ts.UnixMilli()
	}
	if r.incIdx >= 0 {
		rec.Offset = c.inc
	}
	if key, err := r.keyOf(); err != nil {
		return nil, c, err
	} else if key != nil {
		rec.SetKeyFromInput(key)
	}
	return rec, c, nil
}

// encode is the record of the converted row. A value JSON cannot hold (a
// float's NaN) leaves the row as a map, for the output to reject that
// record alone with the column named.
func (r *rowReader) encode() *engine.Record {
	b := make([]byte, 0, r.size+r.size/8+16)
	b = append(b, '{')
	for n, i := range r.order {
		if n > 0 {
			b = append(b, ',')
		}
		b = append(b, r.fieldName[i]...)
		var err error
		if b, err = engine.AppendJSON(b, r.converted[i]); err != nil {
			row := make(map[string]any, len(r.names))
			for i, name := range r.names {
				row[name] = r.converted[i]
			}
			rec := engine.NewRecord(nil, engine.JSON)
			rec.SetValue(row)
			return rec
		}
	}
	b = append(b, '}')
	r.size = len(b)
	return engine.NewRecord(b, engine.JSON)
}

// keyOf is the record key: one key column's value as text, several as a
// JSON object of theirs.
func (r *rowReader) keyOf() ([]byte, error) {
	switch len(r.keyIdx) {
	case 0:
		return nil, nil
	case 1:
		v := r.converted[r.keyIdx[0]]
		if v == nil {
			return nil, fmt.Errorf("key column %s is NULL", r.keyNames[0])
		}
		return engine.KeyBytes(v)
	}
	obj := make(map[string]any, len(r.keyIdx))
	for n, i := range r.keyIdx {
		obj[r.keyNames[n]] = r.converted[i]
	}
	return engine.EncodeJSON("key", obj)
}
