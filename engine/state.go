package engine

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/statestore"
)

// Stateful pipelines keep their stores and their input positions in one
// state database (statestore), and commit both together: after a crash the
// state matches the positions the inputs resume from, so no record is counted
// twice and none is missed.

// Commit intervals when the config gives none.
const (
	defaultCommitInterval         = time.Second
	defaultStatefulCommitInterval = 10 * time.Second
)

// StateFields are the root config's state settings.
func stateFields() config.Field {
	return config.Object("state", "Local state of stateful processors (aggregate, join) and the input positions that go with it.",
		config.String("dir", "The state directory. Defaults to state/<name> below the working directory.").Example("/var/lib/pipeline/wordcount"),
		config.ByteSize("cache_size", "The write cache in front of the on-disk store: changes stay in memory until a commit, which comes early when the cache is full.").Default("64MiB"),
	)
}

// KeyValueState is a key-value store a processor asked for at build time; its
// shards exist once the pipeline has started.
type KeyValueState struct {
	name  string
	state *pipelineState
}

// Shard is the store's part for one input partition.
func (k *KeyValueState) Shard(partition string) *statestore.KeyValueShard {
	return k.state.db.KeyValue(k.name).Shard(partition)
}

// Partitions lists the partitions that have a shard of this store, including
// those committed by earlier runs.
func (k *KeyValueState) Partitions() ([]string, error) {
	return k.state.db.KeyValue(k.name).Partitions()
}

// WindowState is a window store a processor asked for at build time.
type WindowState struct {
	name  string
	state *pipelineState
}

// Shard is the store's part for one input partition.
func (w *WindowState) Shard(partition string) *statestore.WindowShard {
	return w.state.db.Windows(w.name).Shard(partition)
}

// Partitions lists the partitions that have a shard of this store.
func (w *WindowState) Partitions() ([]string, error) {
	return w.state.db.Windows(w.name).Partitions()
}

// pipelineState is the state database of one pipeline run.
type pipelineState struct {
	dir        string
	cacheBytes int64
	stores     map[string]storeInfo // by store name
	log        *slog.Logger         // the pipeline's, once a store is claimed or the database opened
	db         *statestore.DB
}

// KeyValue asks for a key-value store owned by this component. The store is
// named by the component's path, so two components never share one.
func (r *Resources) KeyValue(name string) (*KeyValueState, error) {
	full, err := r.claimStore(name)
	return &KeyValueState{name: full, state: r.b.state}, err
}

// SourcedKeyValue asks for a key-value store its component rebuilds from a
// source of its own at every start (a join's table, read from its topic,
// as Kafka Streams restores a global store from its source topic, not from
// a changelog). The engine keeps it in state.dir and commits it with the
// other stores, but under exactly-once writes no changelog for it and
// restores nothing into it: its content is no part of the transactions.
func (r *Resources) SourcedKeyValue(name string) (*KeyValueState, error) {
	full, err := r.claimStore(name)
	if err == nil {
		info := r.b.state.stores[full]
		info.sourced = true
		r.b.state.stores[full] = info
	}
	return &KeyValueState{name: full, state: r.b.state}, err
}

// Reload replaces what the store holds for one partition with what fill
// puts (a nil value deletes the key), written straight to disk past the
// write cache, so that loading a large table does not hold it in memory.
// It must run while no shard of the state is in use (in a processor's
// Start, before records flow); see statestore.KeyValueStore.Reload.
func (k *KeyValueState) Reload(partition string, fill func(put func(key, value []byte) error) error) error {
	return k.state.db.KeyValue(k.name).Reload(partition, fill)
}

// Windows asks for a window store owned by this component.
func (r *Resources) Windows(name string) (*WindowState, error) {
	full, err := r.claimStore(name)
	return &WindowState{name: full, state: r.b.state}, err
}

// StateCacheBytes is the state write-cache budget (state.cache_size), for
// processors that size their own in-memory caches after it.
func (r *Resources) StateCacheBytes() int64 { return r.b.state.cacheBytes }

func (r *Resources) claimStore(name string) (string, error) {
	full := r.Path + "/" + name
	if info, dup := r.b.state.stores[full]; dup {
		return "", fmt.Errorf("state store %q is already used by %s", full, info.owner)
	}
	r.b.state.stores[full] = storeInfo{owner: r.Path, definition: r.definition}
	r.b.state.log = r.b.log
	return full, nil
}

// storeInfo is what a pipeline knows of one of its stores.
type storeInfo struct {
	owner string // the component's path
	// definition is the owning component's config fingerprint: state
	// written under another definition means something else, so it is
	// dropped (locally, and by changelog topic name).
	definition string
	// sourced: the component rebuilds the store from its own source
	// (SourcedKeyValue); it has no changelog.
	sourced bool
}

// definitionKey is the state metadata key of a store's definition.
func definitionKey(store string) string { return "definition/" + store }

// reconcile drops the state of stores whose component's definition changed
// since it was written, and records the definitions. A store whose identity
// (its component's path) and definition are the same keeps its state
// across restarts and reloads.
func (s *pipelineState) reconcile(log *slog.Logger) error {
	meta := map[string][]byte{}
	for store, info := range s.stores {
		old, found, err := s.db.Meta(definitionKey(store))
		if err != nil {
			return fmt.Errorf("reading the definition of state store %s: %w", store, err)
		}
		if found && string(old) == info.definition {
			continue
		}
		if found {
			if err := s.db.DropStore(store); err != nil {
				return fmt.Errorf("dropping state store %s: %w", store, err)
			}
			log.Warn("the definition of a stateful component changed: its state starts fresh", "component", info.owner, "store", store)
		}
		meta[definitionKey(store)] = []byte(info.definition)
	}
	if len(meta) == 0 {
		return nil
	}
	return s.db.Commit(meta)
}

func (s *pipelineState) stateful() bool { return len(s.stores) > 0 }

func (s *pipelineState) close() error {
	err := s.db.Close()
	s.db = nil
	return err
}

// wipeUnless empties the state when it has no metadata key: state written
// without a changelog checkpoint is rebuilt from the start of the
// changelogs.
func (s *pipelineState) wipeUnless(key string) error {
	if _, found, err := s.db.Meta(key); err != nil || found {
		return err
	}
	if err := s.db.Wipe(); err != nil {
		return fmt.Errorf("wiping state without %s: %w", key, err)
	}
	return nil
}

// openState opens the state database for an at-least-once run and drops
// the state of stores whose definition changed. The directory is the only
// copy of the state: a corrupt one is refused. A store that fails while
// the run goes on (corrupt, or its disk full) fails the run.
func (r *runner) openState() error {
	st := r.p.state
	st.log = r.p.log
	if err := st.openAs(refuseCorrupt, r.fail); err != nil {
		return err
	}
	r.life.onClose("state", func(context.Context) error { return st.close() })
	return st.reconcile(r.p.log)
}

func defaultStateDir(name string) string { return filepath.Join("state", name) }
