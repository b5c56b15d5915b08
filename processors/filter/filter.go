package filter

import (
	"context"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
)

// Plugin is the `filter` processor.
func Plugin() engine.ProcessorPlugin {
	return engine.ProcessorPlugin{
		Spec: config.Spec{
			Name:    "filter",
			Summary: "Keeps the records for which a condition is true and drops the others.",
			Description: "A condition that gives null (a missing field) counts as false. " +
				"A record for which the condition fails, or gives something other than a boolean, " +
				"fails (it goes to the dead-letter output, or stops the pipeline, per on_error). " +
				"A bare string is the condition: `filter: 'value != \"\"'`.",
			Fields: []config.Field{
				config.Expr("condition", "A boolean expression; the record is kept when it is true.").
					Required().Example(`value != ""`, `value.amount > 100 && headers["tenant"] == "acme"`),
			},
			Shorthand: "condition",
			Example: `pipeline:
  processors:
    - filter: 'value != ""'
    - filter: { condition: 'value.amount > 100' }`,
		},
		New: newFilter,
	}
}

type filter struct {
	cond *engine.Expr
}

func newFilter(conf *config.Parsed, _ *engine.Resources) (engine.Processor, error) {
	cond, err := engine.CompileExpr(conf.Expr("condition"), engine.BoolResult)
	if err != nil {
		return nil, err
	}
	return &filter{cond: cond}, nil
}

// Process keeps the records whose condition is true.
func (f *filter) Process(_ context.Context, b *engine.Batch) error {
	kept := b.Records[:0]
	for _, rec := range b.Records {
		ok, err := f.cond.EvalBool(rec)
		if err != nil {
			b.Fail(rec, err)
			continue
		}
		if ok {
			kept = append(kept, rec)
		}
	}
	clear(b.Records[len(kept):])
	b.Records = kept
	return nil
}
