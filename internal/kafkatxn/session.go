package kafkatxn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipelinehq/pipeline/internal/kafkaclient"
	"github.com/pipelinehq/pipeline/statestore"
)

// Session is one pipeline instance's transactional Kafka client. With
// topics to consume it is a franz-go GroupTransactSession: it reads the
// Kafka inputs (read_committed) and commits their offsets in each
// transaction; without, a transactional producer. Either way it produces
// the outputs' records, the state changelogs and the positions of the
// pipeline's other inputs. It implements all of engine.Transactions but
// ReadAll, which the Kafka input adds.
type Session struct {
	txn       transactor
	interrupt func() // cancels the client's context, before Close (kafkaclient.Interruptible)
	id        string
	group     string // the consumer group, and the static member id in it
	member    string
	conn      *kafkaclient.Connection
	topics    []string // the topics consumed (names, or patterns with regex)

	positionsTopic string

	mu         sync.Mutex
	changelogs map[string]bool            // topics produced to by partition number, not by key
	consumed   map[string]bool            // topics records were polled from
	open       map[string]map[int32]int64 // changelog end offsets written in the open transaction
	checkpoint map[string]map[int32]int64 // changelog positions as of the last commit or restore
	writeErr   error                      // the first failed tracked write of the open transaction
	producer   producerEpoch              // the producer id and epoch the open transaction began with
	memberID   string                     // the group member the open transaction began as
	pending    sync.WaitGroup             // tracked writes not yet acknowledged
}

// Options open a session.
type Options struct {
	// ID is the transactional id.
	ID string
	// Topics are consumed as the consumer group of Consumer (the Kafka
	// inputs' group options, which must name a group); none makes a
	// producer-only session.
	Topics   []string
	Consumer []kgo.Opt
	// Group and InstanceID name the consumer group of Consumer and its
	// static member id, so that a session whose member another instance
	// replaced can tell it was fenced.
	Group, InstanceID string
	// PositionsTopic keeps the positions of the pipeline's other inputs.
	PositionsTopic string
}

// transactor is what a session needs of franz-go's transactional clients.
type transactor interface {
	Begin() error
	End(ctx context.Context, commit kgo.TransactionEndTry) (bool, error)
	Produce(ctx context.Context, r *kgo.Record, promise func(*kgo.Record, error))
	Client() *kgo.Client
	Close()
}

// metadataMinAge is how soon a metadata refresh may follow the last one.
// franz-go retries a produce that failed with CONCURRENT_TRANSACTIONS (on
// Kafka 4, the first records of a transaction begun while the brokers
// still write the last one's markers) only after a metadata refresh, which
// its default minimum age (5 s) held back by up to 5 s: a transaction of
// 100 ms took seconds now and then. Kafka's Java client backs off 100 ms.
const metadataMinAge = 250 * time.Millisecond

// Open creates the session. Before it returns, the producer id is
// initialised, which fences an earlier instance with the same id and aborts
// what it left open, so that what is read next (changelogs included) is
// settled.
func Open(ctx context.Context, conn *kafkaclient.Connection, o Options) (*Session, error) {
	s := &Session{id: o.ID, group: o.Group, member: o.InstanceID, conn: conn, topics: o.Topics, positionsTopic: o.PositionsTopic,
		changelogs: map[string]bool{}, consumed: map[string]bool{}, open: map[string]map[int32]int64{}, checkpoint: map[string]map[int32]int64{}}
	connOpts, err := conn.Options()
	if err != nil {
		return nil, err
	}
	sticky := kgo.StickyKeyPartitioner(nil) // murmur2 on keys, as the Java client
	interruptible, interrupt := kafkaclient.Interruptible()
	s.interrupt = interrupt
	opts := append(connOpts, interruptible,
		kgo.TransactionalID(o.ID),
		kgo.TransactionTimeout(time.Minute),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.AllowAutoTopicCreation(),
		kgo.RecordPartitioner(s.partitioner(sticky)),
		kgo.ProducerBatchMaxBytes(kafkaclient.DefaultBatchMaxBytes),
		kgo.MetadataMinAge(metadataMinAge),
	)
	if len(o.Topics) > 0 {
		opts = append(append(opts, o.Consumer...),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.RequireStableFetchOffsets(),
		)
		s.txn, err = kgo.NewGroupTransactSession(opts...)
	} else {
		s.txn, err = newProducerSession(opts...)
	}
	if err != nil {
		interrupt()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, _, err := s.txn.Client().ProducerID(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("initialising transactional id %q at %v: %w", o.ID, conn.Brokers, err)
	}
	return s, nil
}

// partitioner sends changelog records to the partition the session chose
// and everything else by key, murmur2.
func (s *Session) partitioner(byKey kgo.Partitioner) kgo.Partitioner {
	return kgo.BasicConsistentPartitioner(func(topic string) func(*kgo.Record, int) int {
		s.mu.Lock()
		chosen := s.changelogs[topic] || topic == s.positionsTopic
		s.mu.Unlock()
		if chosen {
			return func(r *kgo.Record, _ int) int { return int(r.Partition) }
		}
		tp := byKey.ForTopic(topic)
		return func(r *kgo.Record, n int) int { return tp.Partition(r, n) }
	})
}

// ID is the session's transactional id.
func (s *Session) ID() string { return s.id }

// Client is the session's client, for creating topics.
func (s *Session) Client() *kgo.Client { return s.txn.Client() }

// PollRecords polls through the session, which commits the offsets of
// everything polled with the next transaction. Only a session with topics
// polls.
func (s *Session) PollRecords(ctx context.Context, max int) kgo.Fetches {
	fetches := s.txn.(*kgo.GroupTransactSession).PollRecords(ctx, max)
	fetches.EachTopic(func(t kgo.FetchTopic) {
		s.mu.Lock()
		s.consumed[t.Topic] = true
		s.mu.Unlock()
	})
	return fetches
}

// producerEpoch is a producer id and epoch, as the brokers know them.
type producerEpoch struct {
	id    int64
	epoch int16
}

// Begin begins a transaction.
func (s *Session) Begin() error {
	s.mu.Lock()
	s.writeErr = nil
	clear(s.open)
	s.mu.Unlock()
	if err := fenced(s.txn.Begin()); err != nil {
		return err
	}
	// The producer is known here (initialised, or moved on by the last
	// End); loading it, if it must be, is what the first write would do.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id, epoch, err := s.txn.Client().ProducerID(ctx)
	if err != nil {
		return fenced(err)
	}
	s.producer = producerEpoch{id, epoch}
	if s.group != "" {
		s.memberID, _ = s.txn.Client().GroupMetadata()
	}
	return nil
}

// Changelog writes one state change in the open transaction: to topic, in
// the partition of the change's input partition when that is a Kafka
// partition this session consumes, else in partition 0. Acknowledgements
// are collected by End.
func (s *Session) Changelog(ctx context.Context, topic string, c statestore.Change) error {
	s.mu.Lock()
	s.changelogs[topic] = true
	s.mu.Unlock()
	r := &kgo.Record{Topic: topic, Partition: s.changelogPartition(c.Partition), Key: append([]byte(nil), c.Key...)}
	if c.Value != nil {
		r.Value = append([]byte{}, c.Value...)
	}
	return s.produceTracked(ctx, r, true)
}

// changelogPartition is the Kafka partition number of a state partition
// named "topic/3" (or "inputs.name/topic/3") for a topic consumed here.
func (s *Session) changelogPartition(name string) int32 {
	i := strings.LastIndexByte(name, '/')
	n, err := strconv.ParseInt(name[i+1:], 10, 32)
	if i < 0 || err != nil {
		return 0
	}
	rest := name[:i]
	s.mu.Lock()
	defer s.mu.Unlock()
	for topic := range s.consumed {
		if rest == topic || strings.HasSuffix(rest, "/"+topic) {
			return int32(n)
		}
	}
	return 0
}

// SavePositions writes an input's positions in the open transaction, keyed
// by the input, to the positions topic.
func (s *Session) SavePositions(ctx context.Context, key string, value []byte) error {
	r := &kgo.Record{Topic: s.positionsTopic, Partition: 0, Key: []byte(key), Value: value}
	return s.produceTracked(ctx, r, false)
}

// produceTracked writes r in the open transaction; End waits for it and
// aborts when it failed. A changelog write's offset moves the checkpoint.
func (s *Session) produceTracked(ctx context.Context, r *kgo.Record, changelog bool) error {
	s.mu.Lock()
	err := s.writeErr
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.pending.Add(1)
	s.txn.Produce(ctx, r, func(r *kgo.Record, err error) {
		defer s.pending.Done()
		s.mu.Lock()
		defer s.mu.Unlock()
		if err != nil {
			if s.writeErr == nil {
				s.writeErr = fmt.Errorf("writing %s/%d: %w", r.Topic, r.Partition, fenced(err))
			}
			return
		}
		if !changelog {
			return
		}
		parts := s.open[r.Topic]
		if parts == nil {
			parts = map[int32]int64{}
			s.open[r.Topic] = parts
		}
		parts[r.Partition] = max(parts[r.Partition], r.Offset+1)
	})
	return nil
}

// ProduceAsync writes records in the open transaction, in order behind
// earlier calls, and calls done once the brokers have them all, with the
// first error (the transaction must then abort).
func (s *Session) ProduceAsync(ctx context.Context, records []*kgo.Record, done func(error)) {
	kafkaclient.ProduceAll(ctx, s.txn.Produce, records, func(err error) { done(fenced(err)) })
}

// End commits or aborts the open transaction. A failed tracked write
// aborts it.
func (s *Session) End(ctx context.Context, commit bool) (bool, error) {
	if commit {
		if err := s.Client().Flush(ctx); err != nil {
			return false, fenced(err)
		}
	}
	s.pending.Wait()
	s.mu.Lock()
	writeErr := s.writeErr
	s.mu.Unlock()
	if writeErr != nil {
		if _, err := s.txn.End(ctx, kgo.TryAbort); err != nil {
			return false, errors.Join(writeErr, fenced(err))
		}
		return false, writeErr
	}
	committed, err := s.txn.End(ctx, kgo.TransactionEndTry(commit))
	err = fenced(err)
	if commit && !committed && !isFenced(err) {
		err = s.whetherFenced(ctx, err)
	}
	if committed {
		s.mu.Lock()
		for topic, parts := range s.open {
			if s.checkpoint[topic] == nil {
				s.checkpoint[topic] = map[int32]int64{}
			}
			for p, off := range parts {
				s.checkpoint[topic][p] = off
			}
		}
		clear(s.open)
		s.mu.Unlock()
	}
	return committed, err
}

// whetherFenced is err, or a *FencedError when the commit that did not
// happen was prevented by another instance: one that joined the group
// under this session's static member id (the group then makes the
// transaction abort, or refuses its offsets with FENCED_INSTANCE_ID), or
// one that initialised the transactional id just before the EndTxn. Told
// apart from a rebalance or a failed write, which rewind, it stops the
// instance instead of making two take the member and the id from each
// other in turn.
func (s *Session) whetherFenced(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, kerr.FencedInstanceID) || (err == nil && s.memberReplaced(ctx)):
		why := fmt.Errorf("another instance joined consumer group %q as this session's member %q", s.group, s.member)
		if err != nil {
			why = fmt.Errorf("%w: %w", why, err)
		}
		return &FencedError{Err: why}
	case errors.Is(err, kerr.InvalidTxnState) && s.takenOver(ctx):
		return &FencedError{Err: fmt.Errorf("another producer initialised transactional id %q while this transaction ended: %w", s.id, err)}
	}
	return err
}

// takenOver tells whether another producer initialised the transactional
// id since this transaction began: the brokers' producer id or epoch moved
// on, though the EndTxn (which would move it) failed. A commit so fenced
// fails without saying so on kfake, which answers INVALID_TXN_STATE (its
// one epoch bump on fencing looks like a completed KIP-890 retry) where
// Kafka answers PRODUCER_FENCED.
func (s *Session) takenOver(ctx context.Context) bool {
	described, err := kadm.NewClient(s.Client()).DescribeTransactions(ctx, s.id)
	if err != nil {
		return false
	}
	d, ok := described[s.id]
	return ok && d.Err == nil && (d.ProducerID != s.producer.id || d.ProducerEpoch > s.producer.epoch)
}

// memberReplaced tells whether another member holds this session's static
// member id in its group now: another instance joined under it, and the
// group made this session's transaction abort.
func (s *Session) memberReplaced(ctx context.Context) bool {
	if s.group == "" || s.member == "" || s.memberID == "" {
		return false
	}
	described, err := kadm.NewClient(s.Client()).DescribeGroups(ctx, s.group)
	if err != nil {
		return false
	}
	for _, m := range described[s.group].Members {
		if m.InstanceID != nil && *m.InstanceID == s.member {
			return m.MemberID != s.memberID
		}
	}
	return false
}

// Checkpoint is the changelog positions as of the last commit, as JSON.
func (s *Session) Checkpoint() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, _ := json.Marshal(s.checkpoint)
	return b
}

// Close closes the client, leaving the group; an open transaction aborts.
func (s *Session) Close() {
	s.interrupt()
	s.txn.Close()
}

// Cluster names the brokers the session writes to.
func (s *Session) Cluster() string { return Cluster(s.conn) }

// Cluster names a connection's cluster by its sorted seed brokers.
func Cluster(conn *kafkaclient.Connection) string {
	brokers := slices.Clone(conn.Brokers)
	slices.Sort(brokers)
	return strings.Join(brokers, ",")
}

// EnsureTopics creates the topics that do not exist yet.
func (s *Session) EnsureTopics(ctx context.Context, topics ...*kafkaclient.TopicSpec) error {
	return kafkaclient.EnsureTopics(ctx, s.Client(), topics...)
}

// producerSession is a transactional producer with a GroupTransactSession's
// Begin and End, for sessions that consume nothing.
type producerSession struct{ cl *kgo.Client }

func newProducerSession(opts ...kgo.Opt) (*producerSession, error) {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	return &producerSession{cl: cl}, nil
}

func (p *producerSession) Begin() error        { return p.cl.BeginTransaction() }
func (p *producerSession) Client() *kgo.Client { return p.cl }
func (p *producerSession) Close()              { p.cl.Close() }

func (p *producerSession) Produce(ctx context.Context, r *kgo.Record, promise func(*kgo.Record, error)) {
	p.cl.Produce(ctx, r, promise)
}

func (p *producerSession) End(ctx context.Context, commit kgo.TransactionEndTry) (bool, error) {
	if commit == kgo.TryAbort {
		if err := p.cl.AbortBufferedRecords(ctx); err != nil {
			return false, err
		}
	}
	if err := p.cl.EndTransaction(ctx, commit); err != nil {
		return false, err
	}
	return bool(commit), nil
}

// Writer is what a session's outputs write through: records into the open
// transaction, and topics created; nothing that begins or ends one.
type Writer struct{ s *Session }

// Writer is the session's writer for its outputs.
func (s *Session) Writer() *Writer { return &Writer{s: s} }

// Cluster names the brokers the writer writes to.
func (w *Writer) Cluster() string { return w.s.Cluster() }

// ProduceAsync is the session's ProduceAsync.
func (w *Writer) ProduceAsync(ctx context.Context, records []*kgo.Record, done func(error)) {
	w.s.ProduceAsync(ctx, records, done)
}

// EnsureTopics creates the topics that do not exist yet.
func (w *Writer) EnsureTopics(ctx context.Context, topics ...*kafkaclient.TopicSpec) error {
	return w.s.EnsureTopics(ctx, topics...)
}
