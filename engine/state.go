package engine

import (
	"fmt"
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
	stores     map[string]string // store name → the component that owns it
	db         *statestore.DB
}

// KeyValue asks for a key-value store owned by this component. The store is
// named by the component's path, so two components never share one.
func (r *Resources) KeyValue(name string) (*KeyValueState, error) {
	full, err := r.claimStore(name)
	return &KeyValueState{name: full, state: r.b.state}, err
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
	if owner, dup := r.b.state.stores[full]; dup {
		return "", fmt.Errorf("state store %q is already used by %s", full, owner)
	}
	r.b.state.stores[full] = r.Path
	return full, nil
}

func (s *pipelineState) stateful() bool { return len(s.stores) > 0 }

func (s *pipelineState) open() error {
	db, err := statestore.Open(s.dir, statestore.Options{CacheBytes: s.cacheBytes})
	if err != nil {
		return fmt.Errorf("opening state in %s: %w", s.dir, err)
	}
	s.db = db
	return nil
}

func defaultStateDir(name string) string { return filepath.Join("state", name) }
