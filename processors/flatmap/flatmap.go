package flatmap

import (
	"context"
	"fmt"
	"reflect"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
)

// Plugin is the `flat_map` processor.
func Plugin() engine.ProcessorPlugin {
	return engine.ProcessorPlugin{
		Spec: config.Spec{
			Name:    "flat_map",
			Summary: "Replaces each record by one record per element of a list.",
			Description: "Each element of the list the expression returns becomes the value of a new record that keeps " +
				"the original's key, headers, timestamp and source. An empty list drops the record; a result that is not " +
				"a list (null included) fails it (it goes to the dead-letter output, or stops the pipeline, per on_error). " +
				"A bare string is the expression: `flat_map: 'value.items'`.",
			Fields: []config.Field{
				config.Expr("values", "An expression returning a list; each element becomes a record.").
					Required().Example(`split(value, " ")`, "value.items"),
			},
			Shorthand: "values",
			Example: `pipeline:
  processors:
    - flat_map: { values: 'split(value, " ")' }
    - flat_map: 'value.items'`,
		},
		New: newFlatMap,
	}
}

type flatMap struct {
	values *engine.Expr
}

func newFlatMap(conf *config.Parsed, _ *engine.Resources) (engine.Processor, error) {
	values, err := engine.CompileExpr(conf.Expr("values"), engine.AnyResult)
	if err != nil {
		return nil, err
	}
	return &flatMap{values: values}, nil
}

// Process replaces each record by its elements. The batch is rewritten in
// place while it does not grow past the records still to read.
func (f *flatMap) Process(_ context.Context, b *engine.Batch) error {
	in := b.Records
	out := in[:0]
	inPlace := true
	for i, rec := range in {
		v, err := f.values.Eval(rec)
		if err != nil {
			b.Fail(rec, err)
			continue
		}
		n, ok := listLen(v)
		if !ok {
			b.Fail(rec, fmt.Errorf("%s: want a list, got %s", f.values.Source.Text, engine.DescribeValue(v)))
			continue
		}
		if inPlace && len(out)+n > i+1 {
			// Writing on would overwrite records not read yet.
			grown := make([]*engine.Record, len(out), len(out)+n+2*(len(in)-i))
			copy(grown, out)
			out, inPlace = grown, false
		}
		out = appendElements(out, rec, v)
	}
	if inPlace {
		clear(in[len(out):])
	}
	b.Records = out
	return nil
}

func listLen(v any) (int, bool) {
	switch x := v.(type) {
	case []any:
		return len(x), true
	case []string:
		return len(x), true
	case nil, string, []byte:
		return 0, false
	}
	rv := reflect.ValueOf(v)
	if k := rv.Kind(); k == reflect.Slice || k == reflect.Array {
		return rv.Len(), true
	}
	return 0, false
}

func appendElements(out []*engine.Record, parent *engine.Record, v any) []*engine.Record {
	// The records of one element list are allocated as one block.
	switch x := v.(type) {
	case []any:
		block := make([]engine.Record, len(x))
		for i, e := range x {
			block[i].DeriveFrom(parent, e)
			out = append(out, &block[i])
		}
	case []string:
		block := make([]engine.Record, len(x))
		for i, e := range x {
			block[i].DeriveFrom(parent, e)
			out = append(out, &block[i])
		}
	default:
		rv := reflect.ValueOf(v)
		for i := range rv.Len() {
			out = append(out, engine.NewDerived(parent, rv.Index(i).Interface()))
		}
	}
	return out
}
