package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/inputs/internal/lineio"
	"github.com/pipelinehq/pipeline/internal/kafkaclient"
	"github.com/pipelinehq/pipeline/internal/kafkatxn"
)

// Plugin is the kafka input.
func Plugin() engine.InputPlugin {
	fields := append(kafkaclient.ConnectionFields(),
		config.StringList("topics", "Topics to consume; with topics_regex, regular expressions matching topic names.").Required().Example([]any{"text-input"}),
		config.Bool("topics_regex", "Treat topics as regular expressions.").Default(false),
		config.String("consumer_group", "The consumer group. Defaults to the pipeline's name.").Example("wordcount"),
		config.String("start_from", "Where a group with no committed offsets starts: earliest, latest, or an RFC 3339 time (the first record at or after it).").
			Default("earliest").Example("latest", "2026-01-01T00:00:00Z"),
		config.Bool("read_committed", "Read only records of committed transactions.").Default(false),
		config.String("codec", "How values are read: text (expressions see a string), json (checked when read; a record that is not JSON fails with its error, to the dead-letter output under on_error: dead_letter) or bytes (expressions see bytes; values pass through undecoded).").
			Default("text").Enum("text", "json", "bytes"),
		config.Int("batch_size", "The most records in one batch.").Default(1024),
		config.String("instance_id", "The input's static group member id (KIP-345): a restarted instance replaces its old member at once "+
			"and takes its partitions back, with no rebalance and no wait for the old member's session to time out. It must stay the same "+
			"across restarts and differ between instances running at once (two members with one id fence each other). Defaults, under "+
			"exactly_once, to the transactional id (exactly_once.transactional_id, which only one instance can hold), else to "+
			"<name>-<host name>-<8 hex digits of the state.dir>-<8 hex digits of the input's path>, so instances on one host differ by "+
			"their state directories. ASCII letters, digits, '.', '_' and '-'.").
			Example("${HOSTNAME}").Advanced(),
		config.Duration("session_timeout", "How long the group waits for a member that stopped heartbeating (crashed, or stopped and not "+
			"restarted: a static member does not leave the group when it stops) before giving its partitions to others. A restart "+
			"with the same instance_id does not wait for it. The broker bounds it (by default 6s to 30m).").Default("45s").Advanced(),
		config.Duration("rebalance_timeout", "How long members may take to finish their work and rejoin once a rebalance began.").
			Default("60s").Advanced(),
		kafkaclient.TopicFields(),
	)
	return engine.InputPlugin{
		Spec: config.Spec{
			Name:    "kafka",
			Summary: "Consumes Kafka topics as a member of a consumer group.",
			Description: "Records of a partition are processed in offset order. Offsets are committed only for records every output has " +
				"written (or that were filtered or dead-lettered), up to the first one still in flight. Expressions see meta.topic, " +
				"meta.partition, meta.offset, key, headers and timestamp. On a rebalance, records of revoked partitions that were not " +
				"handed on yet are dropped for the partition's new owner, which starts from the last committed offset. " +
				"As a join's table it is no group member: every instance reads every partition from the start, read_committed, " +
				"whatever consumer_group, start_from and read_committed say.",
			Fields: fields,
			Example: `input:
  kafka:
    brokers: ["${KAFKA_BROKERS:127.0.0.1:9092}"]
    topics: [text-input]`,
		},
		New: New,
	}
}

// Input is the kafka input.
type Input struct {
	conn     *kafkaclient.Connection
	opts     []kgo.Opt // the consumer group's, without the topics
	group    string
	settings groupSettings
	// The running instance's name and the input's path make the default
	// instance id.
	instanceName, path string
	instance           string // the instance id the input joins as, once started
	ready              *readiness
	format             engine.Format
	batchSize          int
	label              string

	client    *kgo.Client
	interrupt func() // cancels the client's context, before Close (kafkaclient.Interruptible)

	mu      sync.Mutex
	pending map[string][]*kgo.Record // partition → records fetched, not yet handed on
	order   []string                 // partitions with pending records, oldest first
	revoked map[string]bool          // partitions lost in a rebalance since last handed on
	sources map[string]*engine.Source
	resume  map[string]int64 // from committed state: partition → next offset
	create  []*kafkaclient.TopicSpec
	topics  []string
	txn     *kafkatxn.Session // under exactly-once, the session read through
	table   *loadTracker      // read as a table (ReadAsTable): no group
	preload *loadTracker      // preloaded (Preload): a group member that says when it is loaded
	// startMilli is start_from as epoch milliseconds when it is a time;
	// -1 otherwise.
	startMilli int64
	// session is the inputs reading through this input's session (under
	// exactly-once, when it opened one): its group callbacks are theirs.
	session []*Input
	log     *slog.Logger
	warned  map[string]time.Time // where → when a transient error was last logged
	alloc   lineio.Records       // used by the one goroutine that reads
}

// New builds the input from its config, connecting to nothing.
func New(conf *config.Parsed, res *engine.Resources) (engine.Input, error) {
	var errs config.Errors
	in := &Input{group: conf.String("consumer_group"), batchSize: conf.Int("batch_size"), label: res.Label, log: res.Logger, startMilli: -1,
		instanceName: res.Instance, path: res.Path,
		pending: map[string][]*kgo.Record{}, revoked: map[string]bool{}, sources: map[string]*engine.Source{}, warned: map[string]time.Time{}}
	if in.group == "" {
		in.group = res.Pipeline
	}
	in.ready = newReadiness(in.group)
	if in.log == nil {
		in.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if in.conn, err = kafkaclient.ParseConnection(conf); err != nil {
		errs = append(errs, config.AsErrors(err)...)
	}
	switch conf.String("codec") {
	case "json":
		in.format = engine.JSON
	case "bytes":
		in.format = engine.Binary
	}
	if in.batchSize < 1 {
		errs = append(errs, conf.Errorf("batch_size", "must be at least 1"))
	}
	in.settings = groupSettings{group: in.group, startFrom: conf.String("start_from"), instanceID: conf.String("instance_id"),
		sessionTimeout: conf.Duration("session_timeout"), rebalanceTimeout: conf.Duration("rebalance_timeout"), regex: conf.Bool("topics_regex")}
	reset := kgo.NewOffset().AtStart()
	switch from := conf.String("start_from"); from {
	case "earliest":
	case "latest":
		reset = kgo.NewOffset().AtEnd()
	default:
		t, err := time.Parse(time.RFC3339Nano, from)
		if err != nil {
			errs = append(errs, conf.Errorf("start_from", "want earliest, latest or an RFC 3339 time such as 2026-01-01T00:00:00Z, got %q", from))
		}
		reset = kgo.NewOffset().AfterMilli(t.UnixMilli())
		in.startMilli = t.UnixMilli()
	}
	in.opts = []kgo.Opt{
		kgo.ConsumerGroup(in.group),
		kgo.ConsumeResetOffset(reset),
		kgo.DisableAutoCommit(),
		kgo.OnPartitionsAssigned(in.onAssigned),
		kgo.OnPartitionsRevoked(in.onRevoked),
		kgo.OnPartitionsLost(in.onLost),
		kgo.AdjustFetchOffsetsFn(in.adjustOffsets),
		kgo.SessionTimeout(conf.Duration("session_timeout")),
		// Errors franz-go retries by itself (a deleted topic among them)
		// are handed on too, so that readiness and the log see a fetch
		// that keeps failing at once, not after a dozen silent retries.
		kgo.KeepRetryableFetchErrors(),
		kgo.RebalanceTimeout(conf.Duration("rebalance_timeout")),
	}
	if id := conf.String("instance_id"); id != "" {
		if err := checkInstanceID(id); err != nil {
			errs = append(errs, conf.Errorf("instance_id", "%v", err))
		}
	}
	if conf.Bool("topics_regex") {
		in.opts = append(in.opts, kgo.ConsumeRegex())
	}
	in.topics = conf.StringList("topics")
	if create := conf.Object("create_topic"); create.Bool("enabled") {
		if conf.Bool("topics_regex") {
			errs = append(errs, conf.Errorf("create_topic", "create_topic needs topic names, not regular expressions"))
		}
		for _, topic := range conf.StringList("topics") {
			in.create = append(in.create, kafkaclient.ParseTopic(create, topic))
		}
	}
	if conf.Bool("read_committed") {
		in.opts = append(in.opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return in, nil
}

// fieldOffset names a partition's next offset in positions.
const fieldOffset = "offset"

func offsetOf(cp engine.Checkpoint) (int64, error) {
	off, err := cp.Position.Int(fieldOffset)
	if err != nil {
		return 0, fmt.Errorf("%s: the position is not an offset: %w", cp.Partition, err)
	}
	return off, nil
}

func partitionName(topic string, partition int32) string {
	return topic + "/" + strconv.Itoa(int(partition))
}

func parsePartition(name string) (string, int32, error) {
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return "", 0, fmt.Errorf("partition %q is not topic/number", name)
	}
	p, err := strconv.ParseInt(name[i+1:], 10, 32)
	return name[:i], int32(p), err
}

// Start joins the group (lazily, on the first poll) after checking that a
// broker answers.
func (in *Input) Start(ctx context.Context) error {
	if in.txn != nil {
		return nil // OpenTransactions connected
	}
	if in.table != nil {
		return in.startTable(ctx)
	}
	instance := in.settings.instanceID
	if instance == "" {
		instance = defaultInstanceID(in.instanceName, in.path)
	}
	interruptible, interrupt := kafkaclient.Interruptible()
	opts := append(slices.Clone(in.opts), kgo.ConsumeTopics(in.topics...), in.joinAs(instance), interruptible)
	client, err := kafkaclient.Connect(ctx, in.conn, opts...)
	if err != nil {
		interrupt()
		return err
	}
	if err := kafkaclient.EnsureTopics(ctx, client, in.create...); err != nil {
		interrupt()
		client.Close()
		return err
	}
	in.client, in.interrupt = client, interrupt
	return nil
}

// Resume makes assigned partitions start at offsets committed with the
// pipeline's state, instead of the group's offsets, so state and input agree.
func (in *Input) Resume(points []engine.Checkpoint) error {
	in.resume = map[string]int64{}
	for _, cp := range points {
		off, err := offsetOf(cp)
		if err != nil {
			return err
		}
		in.resume[cp.Partition] = off
	}
	return nil
}

func (in *Input) adjustOffsets(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	in.mu.Lock()
	for topic, parts := range offsets {
		for p := range parts {
			if off, ok := in.resume[partitionName(topic, p)]; ok {
				parts[p] = kgo.NewOffset().At(off)
			}
		}
	}
	in.mu.Unlock()
	for _, member := range in.members() {
		member.preloadFrom(ctx, offsets)
	}
	return offsets, nil
}

// members is the inputs whose partitions this input's group callbacks
// handle: those of its session, or itself.
func (in *Input) members() []*Input {
	if in.session != nil {
		return in.session
	}
	return []*Input{in}
}

// batchOf is the batch of records taken from a partition: without
// transaction markers, which a table or a preloaded input fetches to pass
// them on its way to an end offset. It may hold no record.
func (in *Input) batchOf(name string, recs []*kgo.Record) engine.InputBatch {
	last := recs[len(recs)-1].Offset
	for _, t := range []*loadTracker{in.table, in.preload} {
		if t != nil {
			t.read(name, last)
		}
	}
	data := withoutControl(recs)
	if len(data) == 0 {
		return engine.InputBatch{Partition: name}
	}
	return in.toBatch(name, data)
}

// joinAs makes the input join its group as the static member instance.
func (in *Input) joinAs(instance string) kgo.Opt {
	in.instance = instance
	in.ready.start(instance)
	in.log.Info("joining the consumer group", "group", in.group, "instance_id", instance)
	return kgo.InstanceID(instance)
}

// onAssigned is called once a join completed, even one that assigned no
// partitions. The partitions are logged, as an operator follows work
// moving between instances (Kafka Streams logs its assignments too).
func (in *Input) onAssigned(ctx context.Context, client *kgo.Client, assigned map[string][]int32) {
	if len(assigned) > 0 {
		in.log.Info("partitions assigned", "partitions", partitionList(assigned))
	}
	for _, member := range in.members() {
		member.preloadGiven(ctx, client, assigned)
	}
	in.ready.assigned()
}

// partitionList is partitions as "topic/N" in order, for a log line.
func partitionList(parts map[string][]int32) []string {
	var names []string
	for topic, ps := range parts {
		for _, p := range ps {
			names = append(names, partitionName(topic, p))
		}
	}
	slices.Sort(names)
	return names
}

// onLost is onRevoked for a member whose group session ended by an error:
// it must join again before it can go on.
func (in *Input) onLost(ctx context.Context, client *kgo.Client, lost map[string][]int32) {
	in.ready.lost()
	in.onRevoked(ctx, client, lost)
}

// onRevoked drops what was fetched for partitions this member no longer
// owns: their new owner reads them from the last committed offset.
func (in *Input) onRevoked(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	if len(lost) > 0 {
		in.log.Info("partitions revoked", "partitions", partitionList(lost))
	}
	for _, member := range in.members() {
		member.preloadRevoked(lost)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	for topic, parts := range lost {
		for _, p := range parts {
			name := partitionName(topic, p)
			delete(in.pending, name)
			in.revoked[name] = true
		}
	}
}

// Read returns the next batch of one partition's records.
func (in *Input) Read(ctx context.Context) (engine.InputBatch, error) {
	for {
		if err := in.preload.failure(); err != nil {
			return engine.InputBatch{}, err
		}
		if b, ok := in.nextBatch(); ok {
			return b, nil
		}
		if in.client == nil {
			return engine.InputBatch{}, errors.New("kafka input is not started, or closed")
		}
		fetches := in.client.PollRecords(ctx, in.batchSize*4)
		if err := ctx.Err(); err != nil {
			return engine.InputBatch{}, err
		}
		if fetches.IsClientClosed() {
			return engine.InputBatch{}, errors.New("kafka client closed")
		}
		fatal, failed := in.fetchErrors(fetches)
		if fatal != nil {
			return engine.InputBatch{}, fatal
		}
		if failed && fetches.NumRecords() == 0 {
			backOff(ctx)
			continue
		}
		in.mu.Lock()
		// A partition at a time: its name is made once per poll, not once
		// per record.
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) == 0 {
				return
			}
			in.ready.fetched()
			name := partitionName(p.Topic, p.Partition)
			delete(in.revoked, name)
			pending := in.pending[name]
			if len(pending) == 0 {
				in.order = append(in.order, name)
				// The fetch's slice, capped so that a later append copies
				// instead of writing into franz-go's array.
				in.pending[name] = p.Records[:len(p.Records):len(p.Records)]
				return
			}
			in.pending[name] = append(pending, p.Records...)
		})
		in.mu.Unlock()
	}
}

func (in *Input) nextBatch() (engine.InputBatch, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for len(in.order) > 0 {
		name := in.order[0]
		recs := in.pending[name]
		if len(recs) == 0 {
			in.order = in.order[1:]
			continue
		}
		n := min(len(recs), in.batchSize)
		take := recs[:n]
		if n == len(recs) {
			delete(in.pending, name)
			in.order = in.order[1:]
		} else {
			in.pending[name] = recs[n:]
			in.order = append(in.order[1:], name) // take turns between partitions
		}
		return in.batchOf(name, take), true
	}
	return engine.InputBatch{}, false
}

func (in *Input) toBatch(name string, recs []*kgo.Record) engine.InputBatch {
	src, ok := in.sources[name]
	if !ok {
		r := recs[0]
		src = &engine.Source{Input: in.label, Partition: name, Meta: map[string]any{"topic": r.Topic, "partition": int64(r.Partition)}}
		in.sources[name] = src
	}
	// Records come from blocks (lineio.Records), and the batch's headers
	// are allocated in one block, rather than one by one.
	out := make([]*engine.Record, len(recs))
	var headers []engine.Header
	if n := headerCount(recs); n > 0 {
		headers = make([]engine.Header, 0, n)
	}
	for i, kr := range recs {
		r := in.alloc.New(kr.Value, in.format)
		r.SetKeyFromInput(kr.Key)
		r.Source, r.Offset, r.Timestamp = src, kr.Offset, kr.Timestamp.UnixMilli()
		if len(kr.Headers) > 0 {
			first := len(headers)
			for _, h := range kr.Headers {
				headers = append(headers, engine.Header{Key: h.Key, Value: h.Value})
			}
			// Capped: a processor appending to one record's headers must
			// not write over the next record's.
			r.Headers = headers[first:len(headers):len(headers)]
		}
		out[i] = r
	}
	last := recs[len(recs)-1]
	return engine.InputBatch{Records: out, Partition: name, Position: engine.IntPosition(fieldOffset, last.Offset+1)}
}

func headerCount(recs []*kgo.Record) int {
	n := 0
	for _, r := range recs {
		n += len(r.Headers)
	}
	return n
}

// fatalKafkaErrors are broker answers that retrying cannot change: the
// configuration (credentials, ACLs, group) must.
var fatalKafkaErrors = []error{
	kerr.SaslAuthenticationFailed, kerr.UnsupportedSaslMechanism, kerr.IllegalSaslState,
	kerr.TopicAuthorizationFailed, kerr.GroupAuthorizationFailed, kerr.ClusterAuthorizationFailed,
	kerr.InvalidGroupID, kerr.FencedInstanceID, kerr.InconsistentGroupProtocol, kerr.UnsupportedVersion,
}

// fetchErrorIsFatal tells errors that end the run from those franz-go
// recovers from by itself (a broker down or restarting, a leader moving, a
// coordinator loading, the group session lost while brokers are away), which
// the input only reports while it waits.
func fetchErrorIsFatal(err error) bool {
	if errors.Is(err, kgo.ErrClientClosed) {
		return true
	}
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		return true
	}
	for _, fatal := range fatalKafkaErrors {
		if errors.Is(err, fatal) {
			return true
		}
	}
	return false
}

// fetchErrors returns the first error of fetches that ends the run; the
// others are transient: logged, noted for readiness, and reported as
// failed. Errors that are ignore (a poll cut short) are neither.
func (in *Input) fetchErrors(fetches kgo.Fetches, ignore ...error) (fatal error, failed bool) {
	fetches.EachError(func(topic string, p int32, err error) {
		if fatal != nil || errors.Is(err, context.Canceled) {
			return
		}
		for _, e := range ignore {
			if errors.Is(err, e) {
				return
			}
		}
		where := "consumer group " + in.group
		if in.table != nil {
			where = "table"
		}
		if topic != "" {
			where = partitionName(topic, p)
		}
		if errors.Is(err, kerr.FencedInstanceID) {
			fatal = in.fencedInstance(where, err)
			return
		}
		if fetchErrorIsFatal(err) {
			fatal = fmt.Errorf("%s: %w", where, err)
			return
		}
		failed = true
		in.warnTransient(where, err)
	})
	return fatal, failed
}

// errorBackoff is how long a poll that brought only errors is followed by
// none: a fetch of a deleted topic fails again at once, and polling on
// would spin (thousands of fetches a second).
const errorBackoff = 100 * time.Millisecond

func backOff(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(errorBackoff):
	}
}

// fencedInstance is the error of a member another one replaced: two
// instances run with one instance id, and the one that joined last goes on.
func (in *Input) fencedInstance(where string, err error) error {
	switch {
	case in.txn != nil && in.settings.instanceID == "":
		// The id is the transactional id, whose producer the other
		// instance fenced too.
		return &kafkatxn.FencedError{Err: fmt.Errorf("%s: another instance with transactional id %q took over: it joined the group "+
			"as the same member (instance id %q); give each instance its own exactly_once.transactional_id: %w", where, in.txn.ID(), in.instance, err)}
	case in.settings.instanceID != "":
		return fmt.Errorf("%s: another instance joined the group with instance_id %q and took over; give each instance its own instance_id: %w",
			where, in.instance, err)
	}
	return fmt.Errorf("%s: another instance joined the group as instance %q and took over (the default id is the same for instances "+
		"of a pipeline on one host with one state.dir); give each its own state.dir or instance_id: %w", where, in.instance, err)
}

// warnTransient notes a recoverable fetch error for readiness and logs it,
// once per warnEvery for the same place, so that a broker that is down for
// minutes does not flood the log.
func (in *Input) warnTransient(where string, err error) {
	in.ready.fetchFailed(where, err)
	now := time.Now()
	in.mu.Lock()
	last, seen := in.warned[where]
	if seen && now.Sub(last) < warnEvery {
		in.mu.Unlock()
		return
	}
	in.warned[where] = now
	in.mu.Unlock()
	in.log.Warn("kafka unavailable; retrying", "at", where, "error", err)
}

const warnEvery = 10 * time.Second

// Commit commits the group offsets the engine says are done, except for
// partitions lost in a rebalance: they belong to another member now.
func (in *Input) Commit(ctx context.Context, points []engine.Checkpoint) error {
	offsets := map[string]map[int32]kgo.EpochOffset{}
	in.mu.Lock()
	for _, cp := range points {
		if in.revoked[cp.Partition] {
			continue
		}
		topic, p, err := parsePartition(cp.Partition)
		if err != nil {
			in.mu.Unlock()
			return err
		}
		off, err := offsetOf(cp)
		if err != nil {
			in.mu.Unlock()
			return err
		}
		if offsets[topic] == nil {
			offsets[topic] = map[int32]kgo.EpochOffset{}
		}
		offsets[topic][p] = kgo.EpochOffset{Epoch: -1, Offset: off}
	}
	in.mu.Unlock()
	if len(offsets) == 0 {
		return nil
	}
	var commitErr error
	in.client.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			commitErr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if e := kerr.ErrorForCode(p.ErrorCode); e != nil && commitErr == nil {
					commitErr = fmt.Errorf("committing %s: %w", partitionName(t.Topic, p.Partition), e)
				}
			}
		}
	})
	return commitErr
}

// Ready is nil once the group assigned the input its partitions (or none:
// another instance reads them), and while fetches work; else why not.
func (in *Input) Ready() error { return in.ready.Ready() }

// Close disconnects. As a static member it stays in the group, as a Kafka
// Streams instance does: a restart (a deploy, a reload) takes its
// partitions back at once, without a rebalance; an instance that does not
// come back leaves them to the others after session_timeout. Under
// exactly-once the engine closes the session the input read through.
func (in *Input) Close(context.Context) error {
	if in.client != nil && in.txn == nil {
		in.interrupt()
		in.client.Close()
	}
	in.client, in.txn = nil, nil
	return nil
}

// Check tells whether the brokers answer and accept the credentials.
func (in *Input) Check(ctx context.Context) error { return kafkaclient.Check(ctx, in.conn) }
