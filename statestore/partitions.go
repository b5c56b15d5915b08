package statestore

import "sort"

// Partitions lists the partitions that have a shard of this store: those
// committed by any run, and those this process has touched since.
func (s *KeyValueStore) Partitions() ([]string, error) {
	return s.shards.partitions()
}

// Partitions lists the partitions that have a shard of this store.
func (s *WindowStore) Partitions() ([]string, error) {
	return s.shards.partitions()
}

func (db *DB) partitions(kind byte, store string) ([]string, error) {
	committed, err := db.listShards()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, id := range committed {
		if id.kind == kind && id.store == store {
			seen[id.partition] = true
		}
	}
	for _, s := range db.shardList() {
		if s.id.kind == kind && s.id.store == store {
			seen[s.id.partition] = true
		}
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out, nil
}
