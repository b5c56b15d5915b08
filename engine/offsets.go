package engine

import (
	"encoding/json"
	"fmt"
	"strings"
)

// The engine keeps the positions of inputs that keep them nowhere else (a
// file, a generator, an SQL cursor), and of every input of a stateful
// pipeline (whose state must match them), in the state database of
// state.dir, as metadata committed only after the outputs wrote everything
// before them: with the state changes, in one atomic commit. Under
// exactly-once they are kept in the transaction instead (commit_eos.go).

// positionsKey is the state metadata key of an input's positions.
func positionsKey(inputPath string) string { return "positions/" + inputPath }

// keepsOwnPositions reports whether an input's positions need no keeping by
// the engine: it commits them at its source (a consumer group), and no
// state has to match them.
func (p *Pipeline) keepsOwnPositions(in *inputNode) bool {
	if _, ok := in.input.(Resumer); !ok {
		return true // nothing to resume from
	}
	if _, ok := in.input.(SourceConfirmer); ok {
		return false // its source keeps only part of the position
	}
	_, commits := in.input.(Committer)
	return commits && !p.state.stateful()
}

// needsStateDB reports whether a run opens the state database at all.
func (p *Pipeline) needsStateDB() bool {
	if p.state.stateful() {
		return true
	}
	for _, in := range p.inputs {
		if !p.keepsOwnPositions(in) {
			return true
		}
	}
	return false
}

func encodePositions(points []Checkpoint) ([]byte, error) { return json.Marshal(points) }

func decodePositions(input string, raw []byte) ([]Checkpoint, error) {
	var points []Checkpoint
	if err := json.Unmarshal(raw, &points); err != nil {
		return nil, fmt.Errorf("%s: the committed positions %s cannot be read: %w", input, raw, err)
	}
	return points, nil
}

// resumeFromState resumes each input whose positions the engine keeps from
// those committed in the state database.
func (r *runner) resumeFromState() error {
	for i, in := range r.p.inputs {
		if r.p.keepsOwnPositions(in) {
			continue
		}
		raw, found, err := r.p.state.db.Meta(positionsKey(in.path))
		if err != nil {
			return fmt.Errorf("%s: reading committed positions: %w", in.path, err)
		}
		if !found {
			continue
		}
		points, err := decodePositions(in.path, raw)
		if err != nil {
			return err
		}
		if err := r.resume(i, points, "resuming from committed positions"); err != nil {
			return err
		}
	}
	return nil
}

// resume starts input i at points.
func (r *runner) resume(i int, points []Checkpoint, why string) error {
	in := r.p.inputs[i]
	if err := in.input.(Resumer).Resume(points); err != nil {
		return fmt.Errorf("%s: resume: %w", in.path, err)
	}
	// A partition with nothing new to read keeps its position in the next
	// commit.
	r.positions[i].seed(points)
	r.p.log.Info(why, "input", in.path, "positions", describePositions(points))
	return nil
}

// describePositions is "partition position; …", for logs.
func describePositions(points []Checkpoint) string {
	parts := make([]string, len(points))
	for i, cp := range points {
		parts[i] = cp.Partition + " " + cp.Position.String()
	}
	return strings.Join(parts, "; ")
}

// positionMeta is the state metadata of the positions the engine keeps:
// every partition's resolved position, for inputs that need it.
func (r *runner) positionMeta() (map[string][]byte, error) {
	meta := map[string][]byte{}
	for i, in := range r.p.inputs {
		if r.p.keepsOwnPositions(in) {
			continue
		}
		points := r.positions[i].resolved()
		if len(points) == 0 {
			continue
		}
		raw, err := encodePositions(points)
		if err != nil {
			return nil, err
		}
		meta[positionsKey(in.path)] = raw
	}
	return meta, nil
}
