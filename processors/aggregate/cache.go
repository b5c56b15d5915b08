package aggregate

import (
	"encoding/binary"
	"math"
	"sync"
)

// The running table and fixed (tumbling, hopping) windows keep their
// decoded accumulators in memory, so that a hot key is decoded once and
// encoded once per commit rather than on every record. Changed entries are
// written to the state store when the engine commits (FlushState), before
// the store is scanned (closing windows, the end of input), and when a
// partition's cache is full; then a random quarter of it is dropped, and
// state beyond it lives in the store (and Badger). Writes to the store are
// not durable until the engine commits them, so writing early never breaks
// the state/position atomicity.

// bytesPerEntry is a cached entry's rough size, to turn the state cache
// budget into a number of entries.
const bytesPerEntry = 256

type partCache struct {
	entries map[string]*cachedState
	dirty   []*cachedState
	scratch []byte // cache keys
	keyBuf  []byte // the current record's state key
	encBuf  []byte // encoded states

	scratchStates []opState
	closedBefore  int64 // every window ending before it is closed
	streamTime    int64 // the highest event time seen in the partition
	clockLoaded   bool  // streamTime was read from state
}

type cachedState struct {
	key    []byte
	w      window
	states []opState
	dirty  bool
}

type stateCache struct {
	mu    sync.Mutex
	parts map[string]*partCache
	limit int // entries per partition
}

// part is the cache of one partition; only that partition's task uses it,
// except during FlushState and Flush, when no batch is in flight.
func (c *stateCache) part(name string) *partCache {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.parts == nil {
		c.parts = map[string]*partCache{}
	}
	pc, ok := c.parts[name]
	if !ok {
		pc = &partCache{entries: map[string]*cachedState{}, closedBefore: math.MinInt64}
		c.parts[name] = pc
	}
	return pc
}

func (c *stateCache) names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.parts))
	for name := range c.parts {
		out = append(out, name)
	}
	return out
}

// cacheKey is the entry's map key: the state key, then the window bounds
// (a running-table entry, which has none, uses windowKey(key) == key).
func (pc *partCache) cacheKey(key []byte, w window) []byte {
	pc.scratch = append(pc.scratch[:0], key...)
	pc.scratch = binary.BigEndian.AppendUint64(pc.scratch, uint64(w.start))
	return binary.BigEndian.AppendUint64(pc.scratch, uint64(w.end))
}

func (pc *partCache) markDirty(e *cachedState) {
	if !e.dirty {
		e.dirty = true
		pc.dirty = append(pc.dirty, e)
	}
}

func (pc *partCache) forget(key []byte, w window) {
	delete(pc.entries, string(pc.cacheKey(key, w)))
}

// loadTable returns the running-table entry of key, decoding it from the
// store on a miss; a new key gets an entry with no states yet.
func (a *Aggregate) loadTable(pc *partCache, part string, key []byte) (*cachedState, error) {
	if e, ok := pc.entries[string(key)]; ok {
		return e, nil
	}
	raw, found, err := a.table.Shard(part).Get(key)
	if err != nil {
		return nil, err
	}
	e := &cachedState{key: append([]byte(nil), key...)}
	if found {
		if e.states, err = decodeStates(raw); err != nil {
			return nil, err
		}
	}
	a.makeRoom(pc, part)
	pc.entries[string(key)] = e
	return e, nil
}

// makeRoom keeps a partition's cache within its limit: when it is full,
// changed entries go to the store and a random quarter is dropped.
func (a *Aggregate) makeRoom(pc *partCache, part string) {
	if len(pc.entries) < a.cache.limit {
		return
	}
	a.writeOut(part, pc)
	drop := len(pc.entries) / 4
	for k := range pc.entries {
		if drop == 0 {
			break
		}
		delete(pc.entries, k)
		drop--
	}
}

// loadWindow is loadTable for a fixed window of key.
func (a *Aggregate) loadWindow(pc *partCache, part string, key []byte, w window) (*cachedState, error) {
	if e, ok := pc.entries[string(pc.cacheKey(key, w))]; ok {
		return e, nil
	}
	raw, found, err := a.windows.Shard(part).Get(key, w.start, w.end)
	if err != nil {
		return nil, err
	}
	e := &cachedState{key: append([]byte(nil), key...), w: w}
	if found {
		if e.states, err = decodeStates(raw); err != nil {
			return nil, err
		}
	}
	a.makeRoom(pc, part)
	pc.entries[string(pc.cacheKey(key, w))] = e
	return e, nil
}

// writeOut puts a partition's changed entries into the store, and drops the
// cache when it grew past its limit.
func (a *Aggregate) writeOut(part string, pc *partCache) {
	for _, e := range pc.dirty {
		pc.encBuf = appendStates(pc.encBuf[:0], e.states)
		if a.win.kind == unwindowed {
			a.table.Shard(part).Put(e.key, pc.encBuf)
		} else {
			a.windows.Shard(part).Put(e.key, e.w.start, e.w.end, pc.encBuf)
		}
		e.dirty = false
	}
	pc.dirty = pc.dirty[:0]
}

// FlushState writes every partition's changed entries to the store; the
// engine calls it just before it commits the store.
func (a *Aggregate) FlushState() error {
	for _, name := range a.cache.names() {
		a.writeOut(name, a.cache.part(name))
	}
	return nil
}
