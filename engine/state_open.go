package engine

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/pipelinehq/pipeline/statestore"
)

// Opening the state database, and what a run does with a directory found
// corrupt (statestore verifies every table as it opens): that depends on
// whether the state exists anywhere else.

// corruptPolicy is what a run does with a corrupt state directory.
type corruptPolicy int

const (
	// refuseCorrupt: the directory is the only copy of the state (at least
	// once). The run does not start, and says what the user can do.
	refuseCorrupt corruptPolicy = iota
	// restoreCorrupt: the changelog topics hold every committed change
	// (exactly once). The directory is wiped, and restoreState rebuilds it
	// from the start of the changelogs.
	restoreCorrupt
)

// open opens the state database of an exactly-once run (commit_eos.go),
// whose changelogs rebuild state found corrupt.
func (s *pipelineState) open() error { return s.openAs(restoreCorrupt, nil) }

// openAs opens the state database; onFailure (may be nil) is told when the
// store fails later (statestore.Options.OnFailure).
func (s *pipelineState) openAs(policy corruptPolicy, onFailure func(error)) error {
	opts := statestore.Options{CacheBytes: s.cacheBytes, Logger: s.logger(), OnFailure: onFailure}
	db, err := statestore.Open(s.dir, opts)
	var corrupt *statestore.CorruptError
	if errors.As(err, &corrupt) && policy == restoreCorrupt {
		s.logger().Warn("the state is corrupt: wiping it, and restoring it from the changelogs", "dir", s.dir, "error", err)
		if err := statestore.Remove(s.dir); err != nil {
			return fmt.Errorf("%w; wiping it to restore it from the changelogs failed: %w", corrupt, err)
		}
		db, err = statestore.Open(s.dir, opts)
	}
	if err != nil {
		return s.openFailed(err)
	}
	s.db = db
	return nil
}

// openFailed says why the state cannot be opened, and what to do about it.
func (s *pipelineState) openFailed(err error) error {
	var corrupt *statestore.CorruptError
	var noSpace *statestore.NoSpaceError
	switch {
	case errors.As(err, &corrupt):
		return fmt.Errorf("%w; it has no changelog to restore from: remove %s to reprocess the input from the start, or restore it from a backup", err, s.dir)
	case errors.As(err, &noSpace):
		return err
	case errors.Is(err, statestore.ErrInUse):
		return fmt.Errorf("the state directory %s is in use by another process (another instance of this pipeline?); "+
			"give each instance its own state.dir", s.dir)
	}
	return fmt.Errorf("opening state in %s: %w", s.dir, err)
}

func (s *pipelineState) logger() *slog.Logger {
	if s.log == nil {
		return slog.Default()
	}
	return s.log
}
