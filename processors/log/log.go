package log

import (
	"context"
	"log/slog"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
)

// Plugin is the `log` processor.
func Plugin() engine.ProcessorPlugin {
	return engine.ProcessorPlugin{
		Spec: config.Spec{
			Name:    "log",
			Summary: "Logs a message per record and passes every record on unchanged.",
			Description: "The message and fields are expressions over the record. A log step never drops data: " +
				"when an expression fails, the failure is logged at warn level and the record passes on. " +
				"Nothing is evaluated when the pipeline's logger.level hides the level.",
			Fields: []config.Field{
				config.String("level", "The level to log at.").Default("info").Enum("debug", "info", "warn", "error"),
				config.Expr("message", "The log message: a string as it is, anything else as JSON.").
					Default("value").Example(`"order " + string(value.id) + " received"`),
				config.ExprMap("fields", "Extra structured attributes of the log line: attribute name to expression.").
					Example(map[string]any{"key": "key", "total": "value.total"}),
			},
			Example: `pipeline:
  processors:
    - log:
        level: debug
        message: '"order received"'
        fields: { id: 'value.id', partition: 'meta.partition' }`,
		},
		New: newLog,
	}
}

type field struct {
	name string
	expr *engine.Expr
}

type logger struct {
	log     *slog.Logger
	level   slog.Level
	message *engine.Expr
	fields  []field
}

func newLog(conf *config.Parsed, res *engine.Resources) (engine.Processor, error) {
	l := &logger{log: res.Logger}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if err := l.level.UnmarshalText([]byte(conf.String("level"))); err != nil {
		return nil, conf.Errorf("level", "%v", err)
	}
	var errs config.Errors
	add := func(err error) {
		errs = append(errs, config.AsErrors(err)...)
	}
	msg := conf.Expr("message")
	if !conf.Has("message") {
		// The default is given to the spec as plain text.
		msg = config.ExprSource{Text: "value", Path: conf.FieldPath("message")}
	}
	var err error
	if l.message, err = engine.CompileExpr(msg, engine.AnyResult); err != nil {
		add(err)
	}
	for _, p := range conf.Map("fields") {
		e, err := engine.CompileExpr(p.Expr, engine.AnyResult)
		if err != nil {
			add(err)
		}
		l.fields = append(l.fields, field{name: p.Key, expr: e})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return l, nil
}

// Process logs each record; it never changes or drops one.
func (l *logger) Process(ctx context.Context, b *engine.Batch) error {
	if !l.log.Enabled(ctx, l.level) {
		return nil
	}
	var attrs []slog.Attr
	if len(l.fields) > 0 {
		attrs = make([]slog.Attr, 0, len(l.fields))
	}
	for _, rec := range b.Records {
		attrs = attrs[:0]
		for _, f := range l.fields {
			v, err := f.expr.Eval(rec)
			if err != nil {
				l.warn(ctx, rec, "fields."+f.name, err)
				continue
			}
			attrs = append(attrs, slog.Any(f.name, v))
		}
		v, err := l.message.Eval(rec)
		if err != nil {
			l.warn(ctx, rec, "message", err)
			continue
		}
		msg, ok := v.(string)
		if !ok {
			text, err := engine.EncodeValue(v)
			if err != nil {
				l.warn(ctx, rec, "message", err)
				continue
			}
			msg = string(text)
		}
		l.log.LogAttrs(ctx, l.level, msg, attrs...)
	}
	return nil
}

func (l *logger) warn(ctx context.Context, rec *engine.Record, field string, err error) {
	l.log.LogAttrs(ctx, slog.LevelWarn, "log: expression failed; the record passes on",
		slog.String("field", field), slog.String("record", rec.Describe()), slog.String("error", err.Error()))
}
