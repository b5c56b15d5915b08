package kafka

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/internal/kafkaclient"
	"github.com/pipelinehq/pipeline/internal/kafkatxn"
)

// Under exactly-once the Kafka inputs of a pipeline read through one
// transactional session, as one consumer group (Kafka Streams reads all of
// an application's source topics with one consumer too); the engine ends
// the transactions, which commit the group's offsets of everything read.

// pollWait is how long ReadAll waits for records before it returns with
// none, so that the engine can end a transaction while the topics are idle.
const pollWait = 50 * time.Millisecond

// groupSettings are what the inputs of one session must agree on.
type groupSettings struct {
	group, startFrom, instanceID     string
	sessionTimeout, rebalanceTimeout time.Duration
	regex                            bool
}

// firstDifference names the first setting in which s and o differ, with
// both values, or "" when they agree.
func (s groupSettings) firstDifference(o groupSettings) (field, a, b string) {
	for _, f := range []struct {
		name string
		a, b any
	}{
		{"consumer_group", s.group, o.group}, {"start_from", s.startFrom, o.startFrom}, {"instance_id", s.instanceID, o.instanceID},
		{"session_timeout", s.sessionTimeout, o.sessionTimeout}, {"rebalance_timeout", s.rebalanceTimeout, o.rebalanceTimeout},
	} {
		if f.a != f.b {
			return f.name, fmt.Sprintf("%q", fmt.Sprint(f.a)), fmt.Sprintf("%q", fmt.Sprint(f.b))
		}
	}
	return "", "", ""
}

// Cluster names the brokers the input reads from.
func (in *Input) Cluster() string { return kafkatxn.Cluster(in.conn) }

// CanShareSession tells whether the inputs can be one consumer group: the
// same group settings, plain topic names, no topic read by two.
func (in *Input) CanShareSession(others []engine.TransactionalInput) error {
	seen := map[string]bool{}
	for _, t := range in.topics {
		seen[t] = true
	}
	for _, o := range others {
		other, ok := o.(*Input)
		if !ok {
			return fmt.Errorf("a kafka input shares its session only with kafka inputs, not %T", o)
		}
		if in.settings.regex || other.settings.regex {
			return errors.New("topics_regex cannot be used when several kafka inputs read in one consumer group; list the topics")
		}
		if field, a, b := in.settings.firstDifference(other.settings); field != "" {
			return fmt.Errorf("the kafka inputs must agree on consumer_group, start_from, instance_id, session_timeout and rebalance_timeout, "+
				"and %s is %s in one and %s in another", field, a, b)
		}
		for _, t := range other.topics {
			if seen[t] {
				return fmt.Errorf("topic %q is read by two kafka inputs", t)
			}
			seen[t] = true
		}
	}
	return nil
}

// OpenTransactions opens the session every input in opts.Inputs reads
// through from now on (read_committed), and creates their declared topics.
func (in *Input) OpenTransactions(ctx context.Context, opts engine.TransactionOptions) (engine.Transactions, error) {
	inputs := make([]*Input, len(opts.Inputs))
	var topics []string
	var create []*kafkaclient.TopicSpec
	for i, t := range opts.Inputs {
		kin, ok := t.(*Input)
		if !ok {
			return nil, fmt.Errorf("a kafka session reads only kafka inputs, not %T", t)
		}
		inputs[i] = kin
		topics = append(topics, kin.topics...)
		create = append(create, kin.create...)
	}
	instance := in.settings.instanceID
	if instance == "" {
		instance = sessionInstanceID(opts.ID)
	}
	consumer := append(slices.Clone(in.opts), kgo.ConsumeTopics(topics...), in.joinAs(instance))
	preloading := false
	for _, kin := range inputs {
		preloading = preloading || kin.preload != nil
	}
	if preloading {
		consumer = append(consumer, kgo.KeepControlRecords())
	}
	in.session = inputs // before the session's consumer joins: its callbacks read it
	// The session's group is every input's: they report its readiness,
	// which the opener's callbacks keep.
	for _, kin := range inputs {
		kin.ready.follow(in.ready)
	}
	session, err := kafkatxn.Open(ctx, in.conn, kafkatxn.Options{ID: opts.ID, Topics: topics, Consumer: consumer,
		Group: in.group, InstanceID: instance, PositionsTopic: opts.PositionsTopic})
	if err != nil {
		return nil, err
	}
	if err := session.EnsureTopics(ctx, create...); err != nil {
		session.Close()
		return nil, err
	}
	for _, kin := range inputs {
		kin.txn, kin.client = session, session.Client()
	}
	s := &readingSession{Session: session, inputs: inputs}
	if in.settings.regex {
		s.patterns = make([]*regexp.Regexp, len(in.topics))
		for i, t := range in.topics {
			if s.patterns[i], err = regexp.Compile(t); err != nil {
				session.Close()
				return nil, fmt.Errorf("topics_regex %q: %w", t, err)
			}
		}
	}
	return s, nil
}

// readingSession is the session with its inputs' reads.
type readingSession struct {
	*kafkatxn.Session
	inputs   []*Input
	patterns []*regexp.Regexp // the one input's topics_regex, if any
	held     []string         // the topics paused while a preloaded input loads
}

// holdBack pauses the topics of the inputs that are not preloaded while a
// preloaded one is not loaded, and resumes them once all are: records of
// a paused topic are not polled (franz-go fetches them again on resume),
// so the session commits no position of theirs meanwhile.
func (s *readingSession) holdBack() {
	loading := false
	var others []string
	for _, in := range s.inputs {
		if in.preload != nil {
			loading = loading || !in.Loaded()
		} else {
			others = append(others, in.topics...)
		}
	}
	switch {
	case loading && s.held == nil && len(others) > 0:
		s.Client().PauseFetchTopics(others...)
		s.held = others
	case !loading && s.held != nil:
		s.Client().ResumeFetchTopics(s.held...)
		s.held = nil
	}
}

// Writer is what the outputs write through.
func (s *readingSession) Writer() engine.TransactionWriter { return s.Session.Writer() }

// ReadAll returns every record one poll of the session brought, as batches
// of at most batch_size records of one partition each, each from the input
// that reads its topic; or none after pollWait.
func (s *readingSession) ReadAll(ctx context.Context) ([]engine.SessionBatch, error) {
	for _, in := range s.inputs {
		if err := in.preload.failure(); err != nil {
			return nil, err
		}
	}
	s.holdBack()
	pollCtx, cancel := context.WithTimeout(ctx, pollWait)
	defer cancel()
	// Records this poll returned are handed on even when ctx is done by
	// now: the session commits the position of every record polled.
	fetches := s.PollRecords(pollCtx, s.inputs[0].batchSize*4)
	if fetches.IsClientClosed() {
		return nil, errors.New("kafka client closed")
	}
	fatal, failed := s.inputs[0].fetchErrors(fetches, context.DeadlineExceeded)
	if fatal != nil {
		return nil, fatal
	}
	if failed && fetches.NumRecords() == 0 {
		backOff(ctx)
		return nil, nil
	}
	var batches []engine.SessionBatch
	var unknown error
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 {
			return
		}
		s.inputs[0].ready.fetched() // the opener's
		i := s.inputOf(p.Topic)
		if i < 0 {
			unknown = fmt.Errorf("records of topic %s, which no kafka input reads", p.Topic)
			return
		}
		in := s.inputs[i]
		name := partitionName(p.Topic, p.Partition)
		for recs := p.Records; len(recs) > 0; {
			n := min(len(recs), in.batchSize)
			batches = append(batches, engine.SessionBatch{Input: i, InputBatch: in.batchOf(name, recs[:n])})
			recs = recs[n:]
		}
	})
	return batches, unknown
}

// inputOf is the index of the input that reads topic.
func (s *readingSession) inputOf(topic string) int {
	if s.patterns != nil {
		for _, re := range s.patterns {
			if re.MatchString(topic) {
				return 0
			}
		}
		return -1
	}
	for i, in := range s.inputs {
		if slices.Contains(in.topics, topic) {
			return i
		}
	}
	return -1
}
