package branch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
)

// Plugin is the `branch` processor.
func Plugin() engine.ProcessorPlugin {
	routeFields := func(what string) []config.Field {
		return []config.Field{
			config.ComponentList("processors", "processor", "Processors the "+what+"'s records go through, in order. None by default.").Default(nil),
			config.String("output", "The name of an entry of the config's outputs: map that the "+what+"'s records are written to, after its processors. "+
				"Without it they continue down the main chain after the branch, in input order.").Example("orders"),
		}
	}
	caseFields := append([]config.Field{
		config.Expr("when", "A boolean expression; the first case whose when is true takes the record. Null (a missing field) counts as false.").
			Required().Example(`value.type == "order"`, `headers["priority"] == "high"`),
	}, routeFields("case")...)
	return engine.ProcessorPlugin{
		Spec: config.Spec{
			Name:    "branch",
			Summary: "Sends each record through the first case whose condition holds: its own processors, then a named output or back into the chain.",
			Description: "Cases are tried in order; the first whose when is true takes the record. A record no case takes goes to default, " +
				"or continues unchanged when there is no default. A when that fails fails the record (it goes to the dead-letter output, " +
				"or stops the pipeline, per on_error). Records that continue after the branch keep their input order. " +
				"When every case and a default route to outputs, nothing continues and the pipeline needs no main output.",
			Fields: []config.Field{
				config.ObjectList("cases", "The cases, tried in order. At least one.", caseFields...).Required(),
				config.Object("default", "Where records no case takes go. Without it they continue unchanged.", routeFields("default")...),
			},
			Example: `outputs:
  orders: { stdout: {} }
  audit: { stdout: {} }
pipeline:
  processors:
    - branch:
        cases:
          - when: 'value.type == "order"'
            processors:
              - map: { set: { "routed": 'true' } }
            output: orders
          - when: 'value.type == "ping"'
            processors:
              - filter: 'false'
        default:
          output: audit`,
		},
		New: newBranch,
	}
}

// route is a case or the default: its processors, then an output or the
// main chain.
type route struct {
	chain  *engine.Chain
	out    engine.OutputRef
	routes bool // out is set
}

type branch struct {
	when       []*engine.Expr // by case
	cases      []route
	def        route
	hasDefault bool
}

func newBranch(conf *config.Parsed, res *engine.Resources) (engine.Processor, error) {
	br := &branch{}
	var errs config.Errors
	var reported error
	addErr := func(err error) {
		var ce *config.Error
		var ces config.Errors
		switch {
		case errors.As(err, &ces):
			errs = append(errs, ces...)
		case errors.As(err, &ce):
			errs = append(errs, ce)
		default:
			// Nested processor errors are already reported by the build.
			reported = err
		}
	}
	buildRoute := func(rc *config.Parsed) route {
		r := route{}
		chain, err := res.Processors(rc, "processors")
		if err != nil {
			addErr(err)
		}
		r.chain = chain
		if rc.Has("output") {
			out, err := res.Output(rc, "output")
			if err != nil {
				addErr(err)
			}
			r.out, r.routes = out, err == nil
		}
		return r
	}
	cases := conf.ObjectList("cases")
	if len(cases) == 0 {
		errs = append(errs, conf.Errorf("cases", "give at least one case"))
	}
	for _, cc := range cases {
		when, err := engine.CompileExpr(cc.Expr("when"), engine.BoolResult)
		if err != nil {
			addErr(err)
		}
		br.when = append(br.when, when)
		br.cases = append(br.cases, buildRoute(cc))
	}
	if conf.Has("default") {
		br.def, br.hasDefault = buildRoute(conf.Object("default")), true
	}
	switch {
	case len(errs) > 0:
		return nil, errs
	case reported != nil:
		return nil, reported
	}
	return br, nil
}

// terminal reports whether none of a route's records continue down the
// main chain.
func (r *route) terminal() bool {
	return r.routes || r.chain.Terminal()
}

// Terminal reports whether every record leaves through an output: every
// case and a default route to outputs.
func (br *branch) Terminal() bool {
	if !br.hasDefault || !br.def.terminal() {
		return false
	}
	for i := range br.cases {
		if !br.cases[i].terminal() {
			return false
		}
	}
	return true
}

// Process sorts records into cases, runs each case's processors over its
// records and routes or keeps what they give back.
func (br *branch) Process(ctx context.Context, b *engine.Batch) error {
	// groups[i] holds case i's records; groups[len(cases)] the default's.
	// Made per batch, and only for the routes that take records.
	var groups [][]*engine.Record
	kept := b.Records[:0] // records no route takes, in order
	for _, rec := range b.Records {
		taken := -1
		failed := false
		for i, when := range br.when {
			ok, err := when.EvalBool(rec)
			if err != nil {
				b.Fail(rec, fmt.Errorf("cases.%d.when: %w", i, err))
				failed = true
				break
			}
			if ok {
				taken = i
				break
			}
		}
		switch {
		case failed:
			continue
		case taken < 0 && !br.hasDefault:
			kept = append(kept, rec)
			continue
		case taken < 0:
			taken = len(br.cases)
		}
		if groups == nil {
			groups = make([][]*engine.Record, len(br.cases)+1)
		}
		groups[taken] = append(groups[taken], rec)
	}
	clear(b.Records[len(kept):])
	if groups == nil {
		b.Records = kept
		return nil
	}
	continuing := kept
	merges := 0 // sources of continuing records: the unmatched, and routes
	if len(kept) > 0 {
		merges++
	}
	for i, recs := range groups {
		if len(recs) == 0 {
			continue
		}
		r := br.routeAt(i)
		d := b.Derive(recs)
		if err := r.chain.Process(ctx, d); err != nil {
			return err
		}
		if len(d.Records) == 0 {
			continue
		}
		if r.routes {
			for _, rec := range d.Records {
				b.Route(r.out, rec)
			}
			continue
		}
		continuing = append(continuing, d.Records...)
		merges++
	}
	if merges > 1 {
		slices.SortStableFunc(continuing, bySeq)
	}
	b.Records = continuing
	return nil
}

func bySeq(a, b *engine.Record) int { return cmp.Compare(a.Seq(), b.Seq()) }

func (br *branch) routeAt(i int) *route {
	if i == len(br.cases) {
		return &br.def
	}
	return &br.cases[i]
}

func (br *branch) routes() []*route {
	rs := make([]*route, 0, len(br.cases)+1)
	for i := range br.cases {
		rs = append(rs, &br.cases[i])
	}
	if br.hasDefault {
		rs = append(rs, &br.def)
	}
	return rs
}

// Flush releases what the nested processors held back, all in one chunk,
// and routes it or hands it on like any record of the route.
func (br *branch) Flush(ctx context.Context, b *engine.Batch) (more bool, err error) {
	for _, r := range br.routes() {
		d := b.Derive(nil)
		if err := r.chain.FlushInto(ctx, d); err != nil {
			return false, err
		}
		if r.routes {
			for _, rec := range d.Records {
				b.Route(r.out, rec)
			}
			continue
		}
		b.Records = append(b.Records, d.Records...)
	}
	return false, nil
}

// FlushState hands the nested processors' pending state changes to the
// state stores before the engine commits them.
func (br *branch) FlushState() error {
	for _, r := range br.routes() {
		if err := r.chain.FlushState(); err != nil {
			return err
		}
	}
	return nil
}

// Start starts the nested processors. When one fails, the routes started
// before it are closed; the failing route is left as the engine leaves a
// chain that failed to start.
func (br *branch) Start(ctx context.Context) error {
	rs := br.routes()
	for i, r := range rs {
		if err := r.chain.Start(ctx); err != nil {
			for _, started := range rs[:i] {
				_ = started.chain.Close(ctx)
			}
			return err
		}
	}
	return nil
}

// Close closes the nested processors.
func (br *branch) Close(ctx context.Context) error {
	var errs []error
	for _, r := range br.routes() {
		if err := r.chain.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
