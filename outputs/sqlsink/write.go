package sqlsink

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/internal/sqldb"
)

type opKind uint8

const (
	opWrite opKind = iota // insert or upsert, by mode
	opDelete
)

// op is one record's change: its index in the Write, and its bound
// parameters (a row's columns, or a delete's key columns).
type op struct {
	index int
	kind  opKind
	args  []any
	key   string // the key columns' values, to find upserts of one key
}

// Write writes records in one transaction. Records the output cannot turn
// into a row, and rows the database refuses, are rejected alone
// (engine.RecordsRejected); any other failure fails the whole Write, with
// nothing committed.
func (o *Output) Write(ctx context.Context, records []*engine.Record) error {
	if o.closed || o.db == nil {
		return errors.New("sql output: Write before Start or after Close")
	}
	rejected := &engine.RecordsRejected{}
	ops := make([]op, 0, len(records))
	for i, r := range records {
		x, err := o.opOf(r)
		if err != nil {
			rejected.Reject(i, err)
			continue
		}
		x.index = i
		ops = append(ops, x)
	}
	if len(ops) == 0 {
		return rejected.OrNil()
	}
	err := o.inTx(ctx, func(tx *sql.Tx) error { return o.writeRuns(ctx, tx, ops) })
	if err == nil || !sqldb.IsRowError(err) {
		return orRejected(err, rejected)
	}
	// Some row was refused, and a statement of many rows does not say
	// which: write them one by one, each behind a savepoint.
	err = o.inTx(ctx, func(tx *sql.Tx) error { return o.writeEach(ctx, tx, ops, rejected) })
	return orRejected(err, rejected)
}

func orRejected(err error, rejected *engine.RecordsRejected) error {
	if err != nil {
		return err
	}
	return rejected.OrNil()
}

func (o *Output) inTx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := o.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sql output: beginning a transaction: %w", err)
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sql output: committing: %w", err)
	}
	return nil
}

// writeRuns writes consecutive ops of one kind with one statement per
// chunk of rows. Of several upserts of one key in a run only the last is
// written: each replaces the whole row, so the table ends the same.
func (o *Output) writeRuns(ctx context.Context, tx *sql.Tx, ops []op) error {
	for start := 0; start < len(ops); {
		end := start + 1
		for end < len(ops) && ops[end].kind == ops[start].kind {
			end++
		}
		run := ops[start:end]
		if run[0].kind == opWrite && o.mode == modeUpsert {
			run = lastOfEachKey(run)
		}
		if err := o.execChunks(ctx, tx, run); err != nil {
			return err
		}
		start = end
	}
	return nil
}

func lastOfEachKey(run []op) []op {
	last := make(map[string]int, len(run))
	for i, x := range run {
		last[x.key] = i
	}
	if len(last) == len(run) {
		return run
	}
	out := make([]op, 0, len(last))
	for i, x := range run {
		if last[x.key] == i {
			out = append(out, x)
		}
	}
	return out
}

func (o *Output) execChunks(ctx context.Context, tx *sql.Tx, run []op) error {
	width := len(run[0].args)
	per := max(maxParams/width, 1)
	args := make([]any, 0, min(len(run), per)*width)
	for start := 0; start < len(run); start += per {
		chunk := run[start:min(start+per, len(run))]
		args = args[:0]
		for _, x := range chunk {
			args = append(args, x.args...)
		}
		if _, err := tx.ExecContext(ctx, o.statement(chunk[0].kind, len(chunk)), args...); err != nil {
			return err
		}
	}
	return nil
}

func (o *Output) statement(kind opKind, n int) string {
	switch {
	case kind == opDelete:
		return o.stmts.delete(n)
	case o.mode == modeUpsert:
		return o.stmts.upsert(n)
	}
	return o.stmts.insert(n)
}

// writeEach writes ops one at a time, rejecting those the database
// refuses and rolling back to before them.
func (o *Output) writeEach(ctx context.Context, tx *sql.Tx, ops []op, rejected *engine.RecordsRejected) error {
	for _, x := range ops {
		if _, err := tx.ExecContext(ctx, "SAVEPOINT pipeline_row"); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, o.statement(x.kind, 1), x.args...)
		switch {
		case err == nil:
			_, err = tx.ExecContext(ctx, "RELEASE SAVEPOINT pipeline_row")
		case sqldb.IsRowError(err):
			rejected.Reject(x.index, fmt.Errorf("table %s refused the row: %w", o.table, err))
			_, err = tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT pipeline_row")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// opOf is the change a record makes.
func (o *Output) opOf(r *engine.Record) (op, error) {
	if r.IsTombstone() || r.Op == engine.OpDelete {
		if !o.deletes {
			return op{}, fmt.Errorf("a delete (tombstone or op d) of key %s, and delete is false", describeKey(r.Key))
		}
		args, err := o.keyArgs(r.Key)
		return op{kind: opDelete, args: args}, err
	}
	row, err := o.rowOf(r)
	if err != nil {
		return op{}, err
	}
	x := op{kind: opWrite, args: make([]any, len(row))}
	var key strings.Builder
	for i, v := range row {
		c := o.written[i]
		if x.args[i], err = sqldb.Bind(v, c); err != nil {
			return op{}, err
		}
		if o.mode == modeUpsert && contains(o.keys, c.Name) {
			fmt.Fprintf(&key, "%T:%v\x00", x.args[i], x.args[i])
		}
	}
	x.key = key.String()
	return x, nil
}

// rowOf is the values of the written columns: the expressions' results, or
// the value's fields of the columns' names.
func (o *Output) rowOf(r *engine.Record) ([]any, error) {
	row := make([]any, len(o.written))
	if o.columns != nil {
		for i, c := range o.columns {
			v, err := c.expr.Eval(r)
			if err != nil {
				return nil, fmt.Errorf("column %s: %w", c.name, err)
			}
			row[i] = v
		}
		return row, nil
	}
	v, err := r.Value()
	if err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the value is %s, not an object of column values (or give columns)", engine.DescribeValue(v))
	}
	found := 0
	for i, c := range o.written {
		if x, ok := obj[c.Name]; ok {
			row[i] = x
			found++
		}
	}
	if found < len(obj) {
		for name := range obj {
			if !hasColumn(o.written, name) {
				return nil, fmt.Errorf("field %q is no column of table %s", name, o.table)
			}
		}
	}
	return row, nil
}

// keyArgs are a delete's key column values, from the record key.
func (o *Output) keyArgs(key []byte) ([]any, error) {
	if key == nil {
		return nil, errors.New("a delete without a key")
	}
	cols := make([]sqldb.Column, len(o.keys))
	for i, k := range o.keys {
		cols[i] = sqldb.Column{Name: k, Scale: -1, Precision: -1}
		for _, c := range o.written {
			if c.Name == k {
				cols[i] = c
			}
		}
	}
	if len(o.keys) == 1 {
		v, err := sqldb.Bind(string(key), cols[0])
		return []any{v}, err
	}
	decoded, err := engine.DecodeJSON(key)
	obj, ok := decoded.(map[string]any)
	if err != nil || !ok {
		return nil, fmt.Errorf("key %s: the key of a delete from %d key columns must be a JSON object of them", describeKey(key), len(o.keys))
	}
	args := make([]any, len(o.keys))
	for i, c := range cols {
		v, ok := obj[c.Name]
		if !ok {
			return nil, fmt.Errorf("key %s has no field %q", describeKey(key), c.Name)
		}
		if args[i], err = sqldb.Bind(v, c); err != nil {
			return nil, err
		}
	}
	return args, nil
}
