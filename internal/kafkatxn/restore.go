package kafkatxn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Restore makes sure every changelog topic exists (compacted, with as many
// partitions as the largest topic consumed) and reads each from the
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
	partitions, err := s.consumedPartitions(ctx, adm)
	if err != nil {
		return nil, err
	}
	for _, t := range topics {
		if err := ensureCompacted(ctx, adm, t, partitions); err != nil {
			return nil, fmt.Errorf("creating changelog topic %s: %w", t, err)
		}
		s.mu.Lock()
		s.changelogs[t] = true
		s.mu.Unlock()
	}
	pos, err := s.readToEnd(ctx, adm, topics, from, func(r *kgo.Record) error { return apply(r.Key, r.Value) })
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.checkpoint = pos
	s.mu.Unlock()
	return s.Checkpoint(), nil
}

// LoadPositions makes sure the positions topic exists (compacted, one
// partition) and reads it to its end, committed records only: the last
// value of each key.
func (s *Session) LoadPositions(ctx context.Context) (map[string][]byte, error) {
	adm := kadm.NewClient(s.Client())
	if err := ensureCompacted(ctx, adm, s.positionsTopic, 1); err != nil {
		return nil, fmt.Errorf("creating the positions topic %s: %w", s.positionsTopic, err)
	}
	saved := map[string][]byte{}
	_, err := s.readToEnd(ctx, adm, []string{s.positionsTopic}, nil, func(r *kgo.Record) error {
		if r.Value == nil {
			delete(saved, string(r.Key))
		} else {
			saved[string(r.Key)] = append([]byte(nil), r.Value...)
		}
		return nil
	})
	return saved, err
}

// consumedPartitions is the partition count of the largest topic the
// session consumes, 1 when it consumes none.
func (s *Session) consumedPartitions(ctx context.Context, adm *kadm.Client) (int32, error) {
	partitions := int32(1)
	if len(s.topics) == 0 {
		return partitions, nil
	}
	described, err := adm.ListTopics(ctx, s.topics...)
	if err != nil {
		return 0, fmt.Errorf("describing the input topics: %w", err)
	}
	for _, d := range described {
		if d.Err == nil {
			partitions = max(partitions, int32(len(d.Partitions)))
		}
	}
	return partitions, nil
}

func ensureCompacted(ctx context.Context, adm *kadm.Client, topic string, partitions int32) error {
	compact := "compact"
	resp, err := adm.CreateTopic(ctx, partitions, -1, map[string]*string{"cleanup.policy": &compact}, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return err
	}
	return nil
}

// readToEnd reads topics from the offsets in from (the start where none is
// given) to their last stable offsets as of now, committed records only,
// and returns the offsets reached.
func (s *Session) readToEnd(ctx context.Context, adm *kadm.Client, topics []string, from map[string]map[int32]int64,
	apply func(*kgo.Record) error) (map[string]map[int32]int64, error) {
	ends, err := listEnds(ctx, adm, topics)
	if err != nil {
		return nil, err
	}
	start := map[string]map[int32]kgo.Offset{}
	remaining := map[string]map[int32]int64{} // partitions not read to their end yet
	pos := map[string]map[int32]int64{}
	left := 0
	ends.Each(func(o kadm.ListedOffset) {
		at := from[o.Topic][o.Partition]
		if pos[o.Topic] == nil {
			pos[o.Topic], start[o.Topic], remaining[o.Topic] = map[int32]int64{}, map[int32]kgo.Offset{}, map[int32]int64{}
		}
		pos[o.Topic][o.Partition] = at
		if o.Offset > at {
			start[o.Topic][o.Partition] = kgo.NewOffset().At(at)
			remaining[o.Topic][o.Partition] = o.Offset
			left++
		}
	})
	if left == 0 {
		return pos, nil
	}
	return pos, s.read(ctx, start, remaining, left, pos, apply)
}

// listEnds lists the last stable offsets of topics; a topic just created
// may take a moment to be known everywhere.
func listEnds(ctx context.Context, adm *kadm.Client, topics []string) (kadm.ListedOffsets, error) {
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		ends, err := adm.ListCommittedOffsets(ctx, topics...)
		if err == nil {
			err = ends.Error()
		}
		if err == nil {
			return ends, nil
		}
		if ctx.Err() != nil || !kerr.IsRetriable(err) {
			return nil, fmt.Errorf("listing the ends of %v: %w", topics, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

func (s *Session) read(ctx context.Context, start map[string]map[int32]kgo.Offset, remaining map[string]map[int32]int64, left int,
	pos map[string]map[int32]int64, apply func(*kgo.Record) error) error {
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
	for left > 0 {
		fetches := client.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		var fetchErr error
		fetches.EachError(func(topic string, p int32, err error) {
			if fetchErr == nil && !kgo.IsRetryableBrokerErr(err) && !errors.Is(err, kerr.UnknownTopicOrPartition) {
				fetchErr = fmt.Errorf("reading %s/%d: %w", topic, p, err)
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
				applyErr = apply(r)
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
