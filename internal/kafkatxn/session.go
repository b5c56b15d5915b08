package kafkatxn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// Session is one pipeline instance's transactional Kafka client: a franz-go
// GroupTransactSession that consumes the input's topics (read_committed)
// and produces the outputs' records and the state changelogs. It implements
// engine.Transactions.
type Session struct {
	sess   *kgo.GroupTransactSession
	conn   *kafkaclient.Connection
	topics []string // the input's topics, whose partition count changelogs get

	mu         sync.Mutex
	changelogs map[string]bool            // topics produced to by partition number, not by key
	open       map[string]map[int32]int64 // changelog end offsets written in the open transaction
	checkpoint map[string]map[int32]int64 // changelog positions as of the last commit or restore
	writeErr   error                      // the first failed changelog write of the open transaction
	pending    sync.WaitGroup             // changelog writes not yet acknowledged
}

// Open creates the session: consumerOpts are the input's group options, id
// the transactional id. Before it returns, the producer id is initialised,
// which fences an earlier instance with the same id and aborts what it left
// open, so that what is read next (changelogs included) is settled.
func Open(ctx context.Context, conn *kafkaclient.Connection, id string, topics []string, consumerOpts ...kgo.Opt) (*Session, error) {
	s := &Session{conn: conn, topics: topics, changelogs: map[string]bool{},
		open: map[string]map[int32]int64{}, checkpoint: map[string]map[int32]int64{}}
	connOpts, err := conn.Options()
	if err != nil {
		return nil, err
	}
	sticky := kgo.StickyKeyPartitioner(nil) // murmur2 on keys, as the Java client
	opts := append(connOpts, consumerOpts...)
	opts = append(opts,
		kgo.TransactionalID(id),
		kgo.TransactionTimeout(time.Minute),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.AllowAutoTopicCreation(),
		kgo.RecordPartitioner(s.partitioner(sticky)),
	)
	sess, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		return nil, err
	}
	s.sess = sess
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, _, err := sess.Client().ProducerID(ctx); err != nil {
		sess.Close()
		return nil, fmt.Errorf("initialising transactional id %q at %v: %w", id, conn.Brokers, err)
	}
	return s, nil
}

// partitioner sends changelog records to the partition the engine chose
// (the input partition's number) and everything else by key, murmur2.
func (s *Session) partitioner(byKey kgo.Partitioner) kgo.Partitioner {
	return kgo.BasicConsistentPartitioner(func(topic string) func(*kgo.Record, int) int {
		s.mu.Lock()
		changelog := s.changelogs[topic]
		s.mu.Unlock()
		if changelog {
			return func(r *kgo.Record, _ int) int { return int(r.Partition) }
		}
		tp := byKey.ForTopic(topic)
		return func(r *kgo.Record, n int) int { return tp.Partition(r, n) }
	})
}

// Client is the session's client, for reading (PollRecords) and for
// creating topics. Producing goes through Produce.
func (s *Session) Client() *kgo.Client { return s.sess.Client() }

// PollRecords polls through the session, which tracks what was read.
func (s *Session) PollRecords(ctx context.Context, max int) kgo.Fetches {
	return s.sess.PollRecords(ctx, max)
}

// ProduceAsync writes records in the open transaction, in order behind
// earlier calls, and calls done once the brokers have them all, with the
// first error (the transaction must then abort).
func (s *Session) ProduceAsync(ctx context.Context, records []*kgo.Record, done func(error)) {
	kafkaclient.ProduceAll(ctx, s.sess.Produce, records, func(err error) { done(fenced(err)) })
}

// Begin begins a transaction.
func (s *Session) Begin() error {
	s.mu.Lock()
	s.writeErr = nil
	clear(s.open)
	s.mu.Unlock()
	return fenced(s.sess.Begin())
}

// Changelog writes one state change in the open transaction: to topic, in
// the partition numbered like the change's input partition ("topic/3" → 3).
// Acknowledgements are collected by End.
func (s *Session) Changelog(ctx context.Context, topic string, c statestore.Change) error {
	partition, err := partitionNumber(c.Partition)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.changelogs[topic] = true
	err = s.writeErr
	s.mu.Unlock()
	if err != nil {
		return err
	}
	r := &kgo.Record{Topic: topic, Partition: partition, Key: append([]byte(nil), c.Key...)}
	if c.Value != nil {
		r.Value = append([]byte{}, c.Value...)
	}
	s.pending.Add(1)
	s.sess.Produce(ctx, r, func(r *kgo.Record, err error) {
		defer s.pending.Done()
		s.mu.Lock()
		defer s.mu.Unlock()
		if err != nil {
			if s.writeErr == nil {
				s.writeErr = fmt.Errorf("writing changelog %s/%d: %w", r.Topic, r.Partition, fenced(err))
			}
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

// End commits or aborts the open transaction. A failed changelog write
// aborts it.
func (s *Session) End(ctx context.Context, commit bool) (bool, error) {
	if commit {
		if err := s.sess.Client().Flush(ctx); err != nil {
			return false, fenced(err)
		}
	}
	s.pending.Wait()
	s.mu.Lock()
	writeErr := s.writeErr
	s.mu.Unlock()
	if writeErr != nil {
		if _, err := s.sess.End(ctx, kgo.TryAbort); err != nil {
			return false, errors.Join(writeErr, fenced(err))
		}
		return false, writeErr
	}
	committed, err := s.sess.End(ctx, kgo.TransactionEndTry(commit))
	err = fenced(err)
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

// FencedError is a session's error once another producer with the same
// transactional id has taken over: nothing this session does can commit any
// more, so the instance must stop rather than start over.
type FencedError struct{ Err error }

func (e *FencedError) Error() string {
	return "fenced: " + e.Err.Error()
}
func (e *FencedError) Unwrap() error { return e.Err }

// Fenced marks the error for the engine, which stops instead of rewinding.
func (e *FencedError) Fenced() bool { return true }

// fenced marks the broker's fencing answers as a *FencedError.
func fenced(err error) error {
	var already *FencedError
	if err == nil || errors.As(err, &already) {
		return err
	}
	if errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) ||
		errors.Is(err, kerr.TransactionalIDAuthorizationFailed) {
		return &FencedError{Err: err}
	}
	return err
}

// Checkpoint is the changelog positions as of the last commit, as JSON.
func (s *Session) Checkpoint() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, _ := json.Marshal(s.checkpoint)
	return b
}

// Close closes the client, leaving the group.
func (s *Session) Close() { s.sess.Close() }

// Restore makes sure every changelog topic exists (compacted, with as many
// partitions as the input's largest topic) and reads each from the
// checkpoint (from the start without one) to its last stable offset,
// committed records only.
func (s *Session) Restore(ctx context.Context, topics []string, checkpoint []byte, apply func(key, value []byte) error) ([]byte, error) {
	from := map[string]map[int32]int64{}
	if len(checkpoint) > 0 {
		if err := json.Unmarshal(checkpoint, &from); err != nil {
			return nil, fmt.Errorf("changelog checkpoint %q: %w", checkpoint, err)
		}
	}
	if len(topics) == 0 {
		return s.Checkpoint(), nil
	}
	adm := kadm.NewClient(s.Client())
	if err := s.ensureChangelogs(ctx, adm, topics); err != nil {
		return nil, err
	}
	// A topic just created may take a moment to be known everywhere.
	var ends kadm.ListedOffsets
	var err error
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		ends, err = adm.ListCommittedOffsets(ctx, topics...)
		if err == nil {
			err = ends.Error()
		}
		if err == nil {
			break
		}
		if ctx.Err() != nil || !kerr.IsRetriable(err) {
			return nil, fmt.Errorf("listing the changelogs' ends: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
	start := map[string]map[int32]kgo.Offset{}
	remaining := map[string]map[int32]int64{} // partitions not read to their end yet
	pos := map[string]map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		at := from[o.Topic][o.Partition]
		if pos[o.Topic] == nil {
			pos[o.Topic], start[o.Topic], remaining[o.Topic] = map[int32]int64{}, map[int32]kgo.Offset{}, map[int32]int64{}
		}
		pos[o.Topic][o.Partition] = at
		if o.Offset > at {
			start[o.Topic][o.Partition] = kgo.NewOffset().At(at)
			remaining[o.Topic][o.Partition] = o.Offset
		}
	})
	n := 0
	for _, parts := range remaining {
		n += len(parts)
	}
	if n > 0 {
		if err := s.read(ctx, start, remaining, pos, apply); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	s.checkpoint = pos
	s.mu.Unlock()
	return s.Checkpoint(), nil
}

func (s *Session) read(ctx context.Context, start map[string]map[int32]kgo.Offset, remaining, pos map[string]map[int32]int64,
	apply func(key, value []byte) error) error {
	opts, err := s.conn.Options()
	if err != nil {
		return err
	}
	client, err := kgo.NewClient(append(opts,
		kgo.ConsumePartitions(start),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Control records (transaction markers) come through, so that the
		// position passes them and reaches the end.
		kgo.KeepControlRecords(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)...)
	if err != nil {
		return err
	}
	defer client.Close()
	left := 0
	for _, parts := range remaining {
		left += len(parts)
	}
	for left > 0 {
		fetches := client.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		var fetchErr error
		fetches.EachError(func(topic string, p int32, err error) {
			if fetchErr == nil && !kgo.IsRetryableBrokerErr(err) && !errors.Is(err, kerr.UnknownTopicOrPartition) {
				fetchErr = fmt.Errorf("reading changelog %s/%d: %w", topic, p, err)
			}
		})
		if fetchErr != nil {
			return fetchErr
		}
		var applyErr error
		fetches.EachRecord(func(r *kgo.Record) {
			end, open := remaining[r.Topic][r.Partition]
			if !open || applyErr != nil || r.Offset >= end {
				return
			}
			if !r.Attrs.IsControl() {
				applyErr = apply(r.Key, r.Value)
			}
			pos[r.Topic][r.Partition] = r.Offset + 1
			if r.Offset+1 >= end {
				delete(remaining[r.Topic], r.Partition)
				left--
			}
		})
		if applyErr != nil {
			return applyErr
		}
	}
	return nil
}

// ensureChangelogs creates the changelog topics that do not exist, compacted,
// with the partition count of the input's largest topic.
func (s *Session) ensureChangelogs(ctx context.Context, adm *kadm.Client, topics []string) error {
	inputs, err := adm.ListTopics(ctx, s.topics...)
	if err != nil {
		return fmt.Errorf("describing the input topics: %w", err)
	}
	partitions := int32(1)
	for _, d := range inputs {
		if d.Err == nil {
			partitions = max(partitions, int32(len(d.Partitions)))
		}
	}
	compact := "compact"
	for _, t := range topics {
		resp, err := adm.CreateTopic(ctx, partitions, -1, map[string]*string{"cleanup.policy": &compact}, t)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("creating changelog topic %s: %w", t, err)
		}
		s.mu.Lock()
		s.changelogs[t] = true
		s.mu.Unlock()
	}
	return nil
}

// partitionNumber is the number of a Kafka input partition named
// "topic/3".
func partitionNumber(name string) (int32, error) {
	i := strings.LastIndexByte(name, '/')
	n, err := strconv.ParseInt(name[i+1:], 10, 32)
	if i < 0 || err != nil {
		return 0, fmt.Errorf("state partition %q is not a Kafka partition (topic/number)", name)
	}
	return int32(n), nil
}
