package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/internal/kafkaclient"
	"github.com/pipelinehq/pipeline/internal/kafkatxn"
)

// Plugin is the kafka output.
func Plugin() engine.OutputPlugin {
	fields := append(kafkaclient.ConnectionFields(),
		config.String("topic", "The topic every record goes to.").Example("word-counts"),
		config.Expr("topic_expr", "An expression choosing each record's topic, instead of topic.").Example(`"events-" + value.type`),
		config.Expr("key", "The record key; the record's own key when not given.").Example("value.customer"),
		config.ExprMap("headers", "Headers to set, name to expression; a record's own headers are kept.").Example(map[string]any{"source": `"pipeline"`}),
		config.String("compression", "Batch compression.").Default("none").Enum("none", "gzip", "snappy", "lz4", "zstd"),
		config.Duration("linger", "How long a partition's batch may wait for more records.").Default("0s"),
		config.ByteSize("batch_max_bytes", "The largest record batch sent to one partition, and so the largest record: a larger one is rejected on its own "+
			"(dead-lettered under on_error: dead_letter). Keep it at most the topic's max.message.bytes, or the broker fails whole writes. "+
			"Under exactly_once the transaction's producer sends batches of at most 1MiB.").Default("1MiB"),
		config.Int("max_in_flight", "Produce requests in flight per broker when idempotent is false (an idempotent producer manages its own).").Default(5),
		config.Bool("idempotent", "Idempotent producing (acks=all, no duplicates from producer retries).").Default(true),
		kafkaclient.TopicFields(),
	)
	return engine.OutputPlugin{
		Spec: config.Spec{
			Name:    "kafka",
			Summary: "Writes records to Kafka topics.",
			Description: "Keyed records are partitioned with murmur2, like the Java client, so they land where Kafka Streams and Kafka Connect " +
				"would put them; records without a key are spread over partitions. A write returns once every record is acknowledged " +
				"(acks=all when idempotent); a failed write is retried by the engine and then stops the pipeline without committing.",
			Fields: fields,
			Example: `output:
  kafka:
    brokers: ["${KAFKA_BROKERS:127.0.0.1:9092}"]
    topic: word-counts
    key: value.word`,
		},
		New: New,
	}
}

// Output is the kafka output.
type Output struct {
	conn      *kafkaclient.Connection
	topic     string
	topicExpr *engine.Expr
	key       *engine.Expr
	headers   []header
	opts      []kgo.Opt
	create    *kafkaclient.TopicSpec
	client    *kgo.Client
	txn       *kafkatxn.Writer // under exactly-once, the session written through
	// maxRecordBytes is the largest record the producer sends; a larger
	// one is rejected before it is produced.
	maxRecordBytes int
}

type header struct {
	name string
	expr *engine.Expr
}

// New builds the output from its config, checking everything and
// connecting to nothing.
func New(conf *config.Parsed, _ *engine.Resources) (engine.Output, error) {
	var errs config.Errors
	add := func(err error) {
		if err != nil {
			errs = append(errs, config.AsErrors(err)...)
		}
	}
	o := &Output{topic: conf.String("topic"), maxRecordBytes: int(conf.ByteSize("batch_max_bytes"))}
	var err error
	o.conn, err = kafkaclient.ParseConnection(conf)
	add(err)
	switch {
	case conf.Has("topic") == conf.Has("topic_expr"):
		errs = append(errs, conf.Errorf("topic", "give exactly one of topic and topic_expr"))
	case conf.Has("topic_expr"):
		o.topicExpr, err = engine.CompileExpr(conf.Expr("topic_expr"), engine.AnyResult)
		add(err)
	}
	if conf.Has("key") {
		o.key, err = engine.CompileExpr(conf.Expr("key"), engine.AnyResult)
		add(err)
	}
	for _, p := range conf.Map("headers") {
		e, err := engine.CompileExpr(p.Expr, engine.AnyResult)
		add(err)
		o.headers = append(o.headers, header{p.Key, e})
	}
	o.opts = []kgo.Opt{
		kgo.ProducerLinger(conf.Duration("linger")),
		kgo.ProducerBatchMaxBytes(int32(o.maxRecordBytes)),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)), // murmur2 on keys, as the Java client
		// Retriable failures (a broker restarting, leaders moving) are
		// retried for about two minutes at franz-go's longest backoff, as
		// the Java producer's delivery.timeout.ms: ten tries gave up after
		// a minute while a broker restarted with the cores busy. (Not
		// RecordDeliveryTimeout: franz-go measures it from the record's
		// timestamp, which is its event time here, often long past.)
		kgo.RecordRetries(60),
		// A topic created a moment ago may not be served by its leader yet
		// (UNKNOWN_TOPIC_OR_PARTITION on the first produce, seen on the real
		// broker with the cores busy): retry it for tens of seconds, as the
		// Java producer waits for a topic's metadata, instead of franz-go's
		// four tries.
		kgo.UnknownTopicRetries(30),
		// Brokers that auto-create topics (the development broker, Kafka's
		// default) create a missing one on first write.
		kgo.AllowAutoTopicCreation(),
	}
	switch conf.String("compression") {
	case "gzip":
		o.opts = append(o.opts, kgo.ProducerBatchCompression(kgo.GzipCompression()))
	case "snappy":
		o.opts = append(o.opts, kgo.ProducerBatchCompression(kgo.SnappyCompression()))
	case "lz4":
		o.opts = append(o.opts, kgo.ProducerBatchCompression(kgo.Lz4Compression()))
	case "zstd":
		o.opts = append(o.opts, kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	default:
		o.opts = append(o.opts, kgo.ProducerBatchCompression(kgo.NoCompression()))
	}
	if conf.Bool("idempotent") {
		o.opts = append(o.opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	} else {
		o.opts = append(o.opts, kgo.DisableIdempotentWrite(), kgo.RequiredAcks(kgo.LeaderAck()),
			kgo.MaxProduceRequestsInflightPerBroker(conf.Int("max_in_flight")))
	}
	if o.topic != "" {
		o.create = kafkaclient.ParseTopic(conf.Object("create_topic"), o.topic)
	} else if conf.Object("create_topic").Bool("enabled") {
		errs = append(errs, conf.Errorf("create_topic", "create_topic needs a fixed topic"))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return o, nil
}

// Start connects, checks the brokers answer, and creates the declared topic.
func (o *Output) Start(ctx context.Context) error {
	if o.txn != nil {
		return o.txn.EnsureTopics(ctx, o.create)
	}
	client, err := kafkaclient.Connect(ctx, o.conn, o.opts...)
	if err != nil {
		return err
	}
	if err := kafkaclient.EnsureTopics(ctx, client, o.create); err != nil {
		client.Close()
		return err
	}
	o.client = client
	return nil
}

// Write produces every record and returns once all are acknowledged.
func (o *Output) Write(ctx context.Context, records []*engine.Record) error {
	done := make(chan error, 1)
	o.WriteAsync(ctx, records, func(err error) { done <- err })
	return <-done
}

// WriteAsync produces every record, in order behind earlier calls, and calls
// done once all are acknowledged or one failed (after franz-go's retries).
// Records that cannot be produced on their own (a value that does not
// encode, a key expression that fails, a record larger than a batch) are
// left out and rejected: done gets an *engine.RecordsRejected once the
// others are acknowledged.
func (o *Output) WriteAsync(ctx context.Context, records []*engine.Record, done func(error)) {
	out, rejected := o.toKafkaBatch(records)
	if rejected != nil {
		inner := done
		done = func(err error) {
			if err == nil {
				err = rejected
			}
			inner(err)
		}
	}
	switch {
	case o.txn != nil:
		o.txn.ProduceAsync(ctx, out, done)
	case o.client == nil:
		done(errors.New("kafka output is not started, or closed"))
	default:
		kafkaclient.ProduceAll(ctx, o.client.Produce, out, done)
	}
}

// toKafkaBatch converts a batch, leaving out and rejecting the records that
// cannot be produced. The Kafka records, and all their headers, are
// allocated in one block each.
func (o *Output) toKafkaBatch(records []*engine.Record) ([]*kgo.Record, *engine.RecordsRejected) {
	krs := make([]kgo.Record, len(records))
	out := make([]*kgo.Record, 0, len(records))
	nh := len(o.headers) * len(records)
	for _, r := range records {
		nh += len(r.Headers)
	}
	var headers []kgo.RecordHeader
	if nh > 0 {
		headers = make([]kgo.RecordHeader, 0, nh)
	}
	var rejected *engine.RecordsRejected
	reject := func(i int, err error) {
		if rejected == nil {
			rejected = &engine.RecordsRejected{}
		}
		rejected.Reject(i, err)
	}
	for i, r := range records {
		kr := &krs[i]
		var err error
		if headers, err = o.toKafka(r, kr, headers); err != nil {
			reject(i, err)
			continue
		}
		if size := recordBatchBytes(kr); size > o.maxRecordBytes {
			reject(i, fmt.Errorf("the record takes %d bytes in a batch, more than the %d of batch_max_bytes: raise batch_max_bytes "+
				"(and the topic's max.message.bytes) to write records this large", size, o.maxRecordBytes))
			continue
		}
		out = append(out, kr)
	}
	return out, rejected
}

// toKafka fills kr from r. Its headers are appended to headers, which is
// returned, and kr.Headers is the capped slice of them.
func (o *Output) toKafka(r *engine.Record, kr *kgo.Record, headers []kgo.RecordHeader) ([]kgo.RecordHeader, error) {
	value, err := r.Bytes()
	if err != nil {
		return headers, err
	}
	*kr = kgo.Record{Topic: o.topic, Key: r.Key, Value: value}
	if r.Timestamp != 0 {
		kr.Timestamp = time.UnixMilli(r.Timestamp)
	}
	if o.topicExpr != nil {
		v, err := o.topicExpr.Eval(r)
		if err != nil {
			return headers, fmt.Errorf("topic_expr: %w", err)
		}
		topic, ok := v.(string)
		if !ok || topic == "" {
			return headers, fmt.Errorf("topic_expr: want a topic name, got %v", v)
		}
		kr.Topic = topic
	}
	if o.key != nil {
		v, err := o.key.Eval(r)
		if err != nil {
			return headers, fmt.Errorf("key: %w", err)
		}
		if v == nil {
			kr.Key = nil
		} else if kr.Key, err = engine.EncodeValue(v); err != nil {
			return headers, fmt.Errorf("key: %w", err)
		}
	}
	first := len(headers)
	for _, h := range r.Headers {
		headers = append(headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	for _, h := range o.headers {
		v, err := h.expr.Eval(r)
		if err != nil {
			return headers, fmt.Errorf("headers.%s: %w", h.name, err)
		}
		b, err := engine.EncodeValue(v)
		if err != nil {
			return headers, fmt.Errorf("headers.%s: %w", h.name, err)
		}
		headers = append(headers, kgo.RecordHeader{Key: h.name, Value: b})
	}
	if len(headers) > first {
		kr.Headers = headers[first:len(headers):len(headers)]
	}
	return headers, nil
}

// Close flushes and disconnects.
func (o *Output) Close(ctx context.Context) error {
	if o.client == nil {
		return nil
	}
	err := o.client.Flush(ctx)
	o.client.Close()
	o.client = nil
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// Check tells whether the brokers answer and accept the credentials.
func (o *Output) Check(ctx context.Context) error { return kafkaclient.Check(ctx, o.conn) }
