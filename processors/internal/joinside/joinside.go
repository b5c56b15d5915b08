// Package joinside is what the join processors share: their two sides
// (each the records of one input, by label, or those a condition picks;
// the inputs named are co-partitioned), the value expression that makes a
// result from both, and the counter of dropped records.
//
// It imports config and engine, nothing of other components.
package joinside

import (
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
)

// The two sides, in the order their specs are given to Parse.
const (
	Left  = 0
	Right = 1
)

// Name is a side's field name.
func Name(side int) string {
	if side == Left {
		return "left"
	}
	return "right"
}

// Field is the config field of a side.
func Field(name, which string) config.Field {
	return config.Object(name, "The "+which+" side: the records of one input, or those a condition picks (give one of the two).",
		config.String("input", "The label of the input whose records are this side (its key in inputs:).").Example("orders"),
		config.Expr("when", "A condition on the record: true puts it on this side (for two topics of one input, say).").
			Example(`meta.topic == "orders"`),
	).Required()
}

// spec picks a side's records: by input label, or by a condition.
type spec struct {
	input string
	when  *engine.Expr
}

// Sides picks the records of the left and the right side.
type Sides struct {
	specs [2]spec
	// coPartition is the inputs to co-partition: the labels named, or
	// none (every input) when a side is a condition.
	coPartition []string
}

// Parse reads the left and right fields of a join's config.
func Parse(conf *config.Parsed, inputs []string) (*Sides, config.Errors) {
	var errs config.Errors
	s := &Sides{}
	everyInput := false
	for side, field := range []string{"left", "right"} {
		sc := conf.Object(field)
		if sc == nil {
			continue // reported as missing
		}
		switch {
		case sc.Has("input") == sc.Has("when"):
			errs = append(errs, conf.Errorf(field, "give input (an input's label) or when (a condition), one of the two"))
		case sc.Has("input"):
			label := sc.String("input")
			if !slices.Contains(inputs, label) {
				errs = append(errs, sc.Errorf("input", "no input labelled %q (inputs: %s)%s", label, strings.Join(inputs, ", "), config.Suggest(label, inputs)))
			}
			s.specs[side].input = label
			s.coPartition = append(s.coPartition, label)
		default:
			when, err := engine.CompileExpr(sc.Expr("when"), engine.BoolResult)
			if err != nil {
				errs = append(errs, config.AsErrors(err)...)
			}
			s.specs[side].when = when
			everyInput = true
		}
	}
	if l, r := s.specs[Left].input, s.specs[Right].input; l != "" && l == r {
		errs = append(errs, conf.Object("right").Errorf("input", "both sides are input %q: give one side a when condition to tell its records apart", l))
	}
	if everyInput {
		s.coPartition = nil
	}
	return s, errs
}

// CoPartition asks the engine to co-partition the sides' inputs: partition
// N of each goes to one task and one state shard.
func (s *Sides) CoPartition(res *engine.Resources) { res.CoPartition(s.coPartition...) }

// Of says which side a record is on; ok is false for a record of neither.
func (s *Sides) Of(r *engine.Record) (side int, ok bool, err error) {
	for side, sp := range s.specs {
		if sp.input != "" {
			if r.Source != nil && r.Source.Input == sp.input {
				return side, true, nil
			}
			continue
		}
		on, err := sp.when.EvalBool(r)
		if err != nil {
			return 0, false, fmt.Errorf("%s.when: %w", Name(side), err)
		}
		if on {
			return side, true, nil
		}
	}
	return 0, false, nil
}

// Value makes a join's results: the value expression over both sides, or
// {"left": …, "right": …} without one.
type Value struct {
	expr *engine.Expr
}

// ParseValue reads the value field of a join's config.
func ParseValue(conf *config.Parsed) (*Value, config.Errors) {
	if !conf.Has("value") {
		return &Value{}, nil
	}
	expr, err := engine.CompileExpr(conf.Expr("value"), engine.AnyResult)
	if err != nil {
		return nil, config.AsErrors(err)
	}
	return &Value{expr: expr}, nil
}

// Result is a result record: the key, the timestamp, the parent's headers,
// and the value of left and right (the sides' values, nil for a missing
// one). The expression sees the first of them that is not nil as value.
func (v *Value) Result(parent *engine.Record, key []byte, ts int64, left, right any) (*engine.Record, error) {
	rec := engine.NewDerived(parent, nil)
	rec.Key, rec.Timestamp = key, ts
	if v.expr == nil {
		rec.SetValue(map[string]any{"left": left, "right": right})
		return rec, nil
	}
	if left != nil {
		rec.SetValue(left)
	} else {
		rec.SetValue(right)
	}
	out, err := v.expr.EvalWithSides(rec, left, right)
	if err != nil {
		return nil, fmt.Errorf("value: %w", err)
	}
	rec.SetValue(out)
	return rec, nil
}

// DroppedCounter is the counter of records a join dropped.
func DroppedCounter(res *engine.Resources) prometheus.Counter {
	return res.Counter("pipeline_join_dropped_records_total", "Records a join dropped: without a key, or without a value where the join needs one.")
}

// Input is the label of a side's input; "" for a side a condition picks.
func (s *Sides) Input(side int) string { return s.specs[side].input }

// Join types, as a join's type field names them.
const (
	Inner = "inner"
	// LeftJoin keeps left records without a match.
	LeftJoin = "left"
	// OuterJoin keeps the records of either side without a match.
	OuterJoin = "outer"
)
