package kafka

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A preloaded input (engine.PreloadInput, the table of a stream–table
// join) is a group member like any other, that also notes the last stable
// offset of every partition it is given, when it is given it, and says it
// is loaded once Read has returned every record below them, for every
// partition it holds. Like a table, it fetches transaction markers, so
// that its position passes them and reaches an end offset that follows
// one; its batches leave them out.

// loadTracker follows partitions read up to an end offset: those of a
// table since Start, those of a preloaded input since they were given.
type loadTracker struct {
	mu        sync.Mutex
	remaining map[string]int64 // partition name → the end offset to reach
	given     map[string]int64 // preloaded: partitions just given → their end offset, until their start is known
	err       error            // preloaded: the end offsets could not be listed
	client    *kgo.Client      // preloaded: the group's, as the assignment callback gave it
	loaded    atomic.Bool
}

func newLoadTracker() *loadTracker {
	return &loadTracker{remaining: map[string]int64{}, given: map[string]int64{}}
}

// failure is why the end offsets of given partitions are unknown.
func (l *loadTracker) failure() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// read notes that a partition's records up to last were read.
func (l *loadTracker) read(name string, last int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if end, ok := l.remaining[name]; ok && last+1 >= end {
		l.dropLocked(name)
	}
}

// drop stops waiting for partitions: read to their end, not worth
// waiting for, or no longer held.
func (l *loadTracker) drop(names ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dropLocked(names...)
}

func (l *loadTracker) dropLocked(names ...string) {
	for _, n := range names {
		delete(l.remaining, n)
		delete(l.given, n)
	}
	l.loaded.Store(len(l.remaining) == 0 && len(l.given) == 0)
}

// Preload makes the input note, for every partition it is given, the end
// offset it has then (see engine.PreloadInput). Called before Start.
func (in *Input) Preload() {
	in.preload = newLoadTracker()
	in.opts = append(in.opts, kgo.KeepControlRecords())
}

// Loaded reports whether Read has returned every record the input's
// partitions held when it was given them.
func (in *Input) Loaded() bool { return in.preload == nil || in.preload.loaded.Load() }

// givenTopics is the topics of parts this input reads.
func (in *Input) givenTopics(parts map[string][]int32) []string {
	var topics []string
	for topic := range parts {
		if slices.Contains(in.topics, topic) || in.settings.regex {
			topics = append(topics, topic)
		}
	}
	return topics
}

// preloadGiven notes the end offsets the partitions a preloaded input was
// just given have now. franz-go calls the assignment callback before it
// looks up where the partitions start (preloadFrom), and waits for it.
func (in *Input) preloadGiven(ctx context.Context, client *kgo.Client, assigned map[string][]int32) {
	if in.preload == nil {
		return
	}
	l := in.preload
	topics := in.givenTopics(assigned)
	if len(topics) == 0 {
		// Given nothing (more members than partitions): nothing more to
		// wait for.
		l.drop()
		return
	}
	l.loaded.Store(false)
	ends, err := tableEnds(ctx, kadm.NewClient(client), topics)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.client = client
	if err != nil {
		l.err = fmt.Errorf("the table's end offsets, to load it before the stream: %w", err)
		return
	}
	for _, topic := range topics {
		for _, p := range assigned[topic] {
			name := partitionName(topic, p)
			if end, hasRecords := ends[name]; hasRecords {
				l.given[name] = end
			}
		}
	}
	l.dropLocked()
}

// preloadFrom notes where the partitions a preloaded input was just given
// start: those that start below their end offset are to be loaded.
// offsets are those adjustOffsets got.
func (in *Input) preloadFrom(ctx context.Context, offsets map[string]map[int32]kgo.Offset) {
	if in.preload == nil {
		return
	}
	l := in.preload
	l.mu.Lock()
	defer l.mu.Unlock()
	for topic, parts := range offsets {
		for p, o := range parts {
			name := partitionName(topic, p)
			end, given := l.given[name]
			delete(l.given, name)
			if !given || in.startsAt(ctx, l.client, topic, p, o) >= end {
				continue // nothing to load: empty, or read up to its end
			}
			l.remaining[name] = end
		}
	}
	l.dropLocked()
}

// startsAt is the offset a partition given to the group member starts at:
// the committed or resumed one, or where start_from puts a partition
// without one (the log start for earliest; math.MaxInt64 for latest: no
// record below its end is read). A time's offset it asks the broker for;
// when that fails, the log start (the partition is waited for until a
// record at or past its end was read, or it is revoked).
func (in *Input) startsAt(ctx context.Context, client *kgo.Client, topic string, p int32, o kgo.Offset) int64 {
	at := o.EpochOffset().Offset
	switch {
	case in.startMilli >= 0 && at == in.startMilli:
		listed, err := kadm.NewClient(client).ListOffsetsAfterMilli(ctx, in.startMilli, topic)
		if err == nil {
			if lo, ok := listed.Lookup(topic, p); ok && lo.Err == nil {
				return lo.Offset
			}
		}
		return 0
	case at == -1: // start_from latest
		return math.MaxInt64
	}
	return at // an offset, or -2 (the log start, below the end)
}

// preloadRevoked stops waiting for partitions the input no longer holds.
func (in *Input) preloadRevoked(lost map[string][]int32) {
	if in.preload == nil {
		return
	}
	var names []string
	for _, topic := range in.givenTopics(lost) {
		for _, p := range lost[topic] {
			names = append(names, partitionName(topic, p))
		}
	}
	in.preload.drop(names...)
}

// withoutControl is recs without transaction markers; recs itself when it
// holds none.
func withoutControl(recs []*kgo.Record) []*kgo.Record {
	for i, r := range recs {
		if !r.Attrs.IsControl() {
			continue
		}
		data := make([]*kgo.Record, i, len(recs))
		copy(data, recs[:i])
		for _, r := range recs[i+1:] {
			if !r.Attrs.IsControl() {
				data = append(data, r)
			}
		}
		return data
	}
	return recs
}
