package engine

import (
	"context"
	"log/slog"
	"time"
)

// commitProtocol is how a run makes its progress durable: at least once
// (positions, and state with them, after the outputs wrote), or exactly
// once (outputs, state changelogs and positions in one Kafka transaction).
// The runner calls it and never asks which one it is.
type commitProtocol interface {
	// open runs before any component starts: it opens what commits need
	// (the state database, a transactional session), resumes inputs from
	// their committed positions and brings state up to date.
	open(ctx context.Context) error
	// readers are the loops that read the inputs.
	readers() []reader
	// begin runs once every component started, before the first read.
	begin() error
	// read tells of records handed on.
	read(records int)
	// commit makes durable everything resolved so far.
	commit(ctx context.Context) error
	// end is the last commit, once the drain is over. After a failure it
	// commits only what is still safe to commit, or nothing.
	end(ctx context.Context, failed bool) error
	// writeFailed is what a write that failed for good does to the run.
	writeFailed(err error)
	// writeRetries is how often a failed synchronous write is retried.
	writeRetries() int
}

func (r *runner) newProtocol() commitProtocol {
	if r.p.Settings.ProcessingGuarantee == ExactlyOnce {
		return &exactlyOnce{r: r}
	}
	return &atLeastOnce{r: r}
}

// atBarrier closes intake, waits until every batch read so far is written,
// and runs fn: the state fn sees is exactly that of the resolved positions.
// After a failure it runs nothing: state may then hold changes of records
// whose writes failed, and the restart reads them again instead.
func (r *runner) atBarrier(ctx context.Context, fn func() error) error {
	if err := r.intake.lock(ctx); err != nil {
		return err
	}
	defer r.intake.unlock()
	if err := r.flight.waitIdle(ctx); err != nil {
		return err
	}
	if r.failed.Load() {
		return nil
	}
	return fn()
}

// requestCommit asks the commit loop for a commit now.
func (r *runner) requestCommit() {
	select {
	case r.commitNow <- struct{}{}:
	default:
	}
}

// commitIfCacheFull asks for an early commit when the state write cache is
// past its budget.
func (r *runner) commitIfCacheFull() {
	if r.p.state.db != nil && r.p.state.db.CacheFull() {
		r.requestCommit()
	}
}

// commitLoop commits every commit interval, and when asked, until stop.
func (r *runner) commitLoop(ctx context.Context, stop <-chan struct{}) {
	t := time.NewTicker(r.p.Settings.CommitInterval)
	defer t.Stop()
	var failures commitFailures
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		case <-r.commitNow:
		}
		failures.report(r.p.log, r.protocol.commit(ctx))
	}
}

// commitFailures reports failed commits, which the next commit retries:
// while they keep failing (a broker away), once per commitWarnEvery with
// how many failed, and once more when they work again.
type commitFailures struct {
	n      int
	warned time.Time
}

const commitWarnEvery = 10 * time.Second

func (f *commitFailures) report(log *slog.Logger, err error) {
	switch {
	case err != nil:
		f.n++
		if time.Since(f.warned) >= commitWarnEvery {
			f.warned = time.Now()
			log.Warn("commit failed; will retry", "failed_commits", f.n, "error", err)
		}
	case f.n > 0:
		log.Info("commits work again", "failed_commits", f.n)
		*f = commitFailures{}
	}
}
