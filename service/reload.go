package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
)

// Hot reload, after Caddy: build, then swap. A reload request (SIGHUP, POST
// /reload, a change of the watched file) loads the file again; a config that
// says the same as the running one (config.Fingerprint) does nothing. A new
// one is built and validated, and its components are asked whether they
// could start (engine.Checker: brokers answer, credentials pass) before the
// running pipeline is touched; any problem leaves the running pipeline as it
// is and is logged as file:line:col. Then the running pipeline drains
// (inputs stop first, everything read is written and committed) and the new
// one starts (outputs first). Should it fail to start anyway, the previous
// config is started again. State belongs to the state directory, not to a
// pipeline: a stateful component whose path and definition are unchanged
// finds its state where it left it (see the engine's reconcileDefinitions).

// Reload outcomes, as exported in pipeline_config_reloads_total{result}.
const (
	reloadSuccess   = "success"
	reloadFailure   = "failure"
	reloadUnchanged = "unchanged"
)

// reloadOutcome is what a reload request came to.
type reloadOutcome struct {
	Result string `json:"result"`
	// Errors are the problems that stopped it (config errors as
	// file:line:col: path: message).
	Errors []string `json:"errors,omitempty"`
}

type reloadRequest struct {
	trigger string
	reply   chan reloadOutcome // nil: nobody waits
}

// supervisor runs one pipeline generation after another in the process.
type supervisor struct {
	opts     Options
	log      *slog.Logger
	metrics  *engine.Metrics
	current  *live
	requests chan reloadRequest

	reloads        *prometheus.CounterVec
	lastSuccessful prometheus.Gauge
	lastSuccessAt  prometheus.Gauge

	running *config.Document // the config of the running generation
	// process is the settings the process started with: the HTTP server,
	// the logger and the memory limit are the process's, not a pipeline's.
	process engine.Settings
}

// build builds a pipeline of doc with the process's logger and metrics.
func (s *supervisor) build(doc *config.Document) (*engine.Pipeline, error) {
	return engine.Build(doc, s.opts.Registry, engine.BuildOptions{Logger: s.log, Metrics: s.metrics})
}

func newSupervisor(opts Options, log *slog.Logger, metrics *engine.Metrics, reg prometheus.Registerer) *supervisor {
	s := &supervisor{opts: opts, log: log, metrics: metrics, current: &live{}, requests: make(chan reloadRequest, 1),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pipeline_config_reloads_total",
			Help: "Config reloads by result: success (the new config runs), failure (the running one goes on), unchanged (nothing to do)."},
			[]string{"result"}),
		lastSuccessful: prometheus.NewGauge(prometheus.GaugeOpts{Name: "pipeline_config_last_reload_successful",
			Help: "1 if the last reload that found a change succeeded (or none was tried), 0 if it failed."}),
		lastSuccessAt: prometheus.NewGauge(prometheus.GaugeOpts{Name: "pipeline_config_last_reload_success_timestamp_seconds",
			Help: "When the running config was loaded, as Unix time."}),
	}
	for _, r := range []string{reloadSuccess, reloadFailure, reloadUnchanged} {
		s.reloads.WithLabelValues(r)
	}
	s.lastSuccessful.Set(1)
	s.lastSuccessAt.SetToCurrentTime()
	reg.MustRegister(s.reloads, s.lastSuccessful, s.lastSuccessAt)
	return s
}

// requestReload asks for a reload and waits for its outcome (POST /reload).
func (s *supervisor) requestReload(ctx context.Context, trigger string) (reloadOutcome, error) {
	req := reloadRequest{trigger: trigger, reply: make(chan reloadOutcome, 1)}
	select {
	case s.requests <- req:
	case <-ctx.Done():
		return reloadOutcome{}, ctx.Err()
	}
	select {
	case out := <-req.reply:
		return out, nil
	case <-ctx.Done():
		return reloadOutcome{}, ctx.Err()
	}
}

// requestReloadAsync asks for a reload without waiting. Requests that come
// while one is pending are one request.
func (s *supervisor) requestReloadAsync(trigger string) {
	select {
	case s.requests <- reloadRequest{trigger: trigger}:
	default:
	}
}

// generation is one pipeline running.
type generation struct {
	cancel  context.CancelFunc
	done    chan error    // its end: nil, or why it failed
	started chan struct{} // closed once it runs (every component started)
	// pipeline is the one running (rebuilt by rewinds); read it only
	// once done has delivered.
	pipeline *engine.Pipeline
}

// launch runs p, built from doc, in the background.
func (s *supervisor) launch(doc *config.Document, p *engine.Pipeline) *generation {
	ctx, cancel := context.WithCancel(context.Background())
	g := &generation{cancel: cancel, done: make(chan error, 1), started: make(chan struct{}), pipeline: p}
	s.current.set(p.Settings.Name, phaseStarting)
	s.current.setReady(p.Ready)
	var once sync.Once
	hooks := engine.Hooks{
		Started: func() {
			s.current.setPhase(phaseRunning)
			once.Do(func() { close(g.started) })
		},
		Draining: func() { s.current.setPhase(phaseDraining) },
	}
	go func() { g.done <- s.runRewinding(ctx, doc, g, hooks) }()
	return g
}

// How rewinds under exactly-once are retried.
const (
	maxRewinds    = 10
	rewindBackoff = 200 * time.Millisecond
)

// runRewinding runs a pipeline; under exactly-once an aborted transaction
// rewinds: the pipeline is built again and resumes from the last commit.
// Rewinds in a row that commit nothing back off, and end the run after
// maxRewinds.
func (s *supervisor) runRewinding(ctx context.Context, doc *config.Document, g *generation, hooks engine.Hooks) error {
	p := g.pipeline
	err := p.RunWith(ctx, hooks)
	for rewinds := 0; ; {
		var rewind *engine.RewindError
		if !errors.As(err, &rewind) || ctx.Err() != nil {
			return err
		}
		if rewind.Commits > 0 {
			rewinds = 0
		}
		rewinds++
		if rewinds > maxRewinds {
			return fmt.Errorf("%d transactions in a row aborted without a commit between them; the last: %w", maxRewinds, err)
		}
		backoff := min(time.Duration(1<<(rewinds-1))*rewindBackoff, 30*time.Second)
		s.log.Warn("rebuilding the pipeline to resume from the last commit", "reason", rewind.Cause, "attempt", rewinds, "backoff", backoff)
		s.current.set(p.Settings.Name, phaseStarting)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil
		}
		if p, err = s.build(doc); err != nil {
			return err
		}
		g.pipeline = p
		s.current.setReady(p.Ready)
		err = p.RunWith(ctx, hooks)
	}
}

// run runs the first pipeline and every reloaded one until one ends by
// itself (a bounded input) or fails, or ctx asks for a stop.
func (s *supervisor) run(ctx context.Context, doc *config.Document, p *engine.Pipeline) error {
	s.running, s.process = doc, p.Settings
	gen := s.launch(doc, p)
	for {
		select {
		case <-ctx.Done():
			gen.cancel()
			return <-gen.done
		case err := <-gen.done:
			return err
		case req := <-s.requests:
			var out reloadOutcome
			gen, out = s.reload(ctx, gen, req.trigger)
			if req.reply != nil {
				req.reply <- out
			}
			if gen == nil {
				return nil // stopped while swapping
			}
		}
	}
}

// reload swaps the running generation for one of the config file as it is
// now, when that differs and can start. It returns the generation that runs
// afterwards (nil after a stop request during the swap).
func (s *supervisor) reload(ctx context.Context, gen *generation, trigger string) (*generation, reloadOutcome) {
	fail := func(errs ...string) (*generation, reloadOutcome) {
		s.reloads.WithLabelValues(reloadFailure).Inc()
		s.lastSuccessful.Set(0)
		return gen, reloadOutcome{Result: reloadFailure, Errors: errs}
	}
	failConfig := func(err error) (*generation, reloadOutcome) {
		errs := config.AsErrors(err).Sorted()
		lines := make([]string, 0, len(errs))
		for _, e := range errs {
			lines = append(lines, e.Error())
			s.log.Error("reload: config error; the running pipeline goes on", "error", e.Error())
		}
		if len(errs) == 0 {
			lines = append(lines, err.Error())
			s.log.Error("reload: config error; the running pipeline goes on", "error", err)
		}
		return fail(lines...)
	}
	doc, err := config.LoadFile(s.opts.ConfigPath, config.LoadOptions{Overrides: s.opts.Overrides})
	if err != nil {
		return failConfig(err)
	}
	if config.Fingerprint(doc.Root) == config.Fingerprint(s.running.Root) {
		s.reloads.WithLabelValues(reloadUnchanged).Inc()
		s.log.Debug("reload: the config is unchanged", "trigger", trigger)
		return gen, reloadOutcome{Result: reloadUnchanged}
	}
	next, err := s.build(doc)
	if err != nil {
		return failConfig(err)
	}
	if ns, ps := next.Settings, s.process; ns.HTTPEnabled != ps.HTTPEnabled || ns.HTTPAddress != ps.HTTPAddress ||
		ns.HTTPAuthToken != ps.HTTPAuthToken || ns.LogLevel != ps.LogLevel || ns.LogFormat != ps.LogFormat || ns.MemoryLimit != ps.MemoryLimit {
		s.log.Warn("reload: http, logger and memory_limit take effect only when the process starts; the running values stay")
	}
	checkCtx, cancel := context.WithTimeout(ctx, checkTimeout)
	err = next.Check(checkCtx)
	cancel()
	if err != nil {
		s.log.Error("reload: the new config cannot start; the running pipeline goes on", "error", err)
		return fail(err.Error())
	}

	s.log.Info("reload: draining the running pipeline", "trigger", trigger)
	began := time.Now()
	gen.cancel()
	if err := <-gen.done; err != nil {
		s.log.Warn("reload: the running pipeline ended with an error while draining", "error", err)
	}
	if ctx.Err() != nil {
		return nil, reloadOutcome{Result: reloadFailure, Errors: []string{"stopped during the reload"}}
	}
	newGen := s.launch(doc, next)
	select {
	case <-newGen.started:
	case err := <-newGen.done:
		if err == nil {
			// A bounded input with nothing to do: the run loop sees it end.
			newGen.done <- nil
			break
		}
		s.log.Error("reload: the new pipeline failed to start; starting the previous config again", "error", err)
		previous, buildErr := s.build(s.running)
		if buildErr != nil {
			return fail(err.Error(), "and the previous config no longer builds: "+buildErr.Error())
		}
		// The new one read nothing: the previous goes on from the
		// positions the old one committed.
		gen = s.launch(s.running, previous)
		return fail(err.Error())
	case <-ctx.Done():
		newGen.cancel()
		<-newGen.done
		return nil, reloadOutcome{Result: reloadFailure, Errors: []string{"stopped during the reload"}}
	}
	s.running = doc
	s.reloads.WithLabelValues(reloadSuccess).Inc()
	s.lastSuccessful.Set(1)
	s.lastSuccessAt.SetToCurrentTime()
	s.log.Info("reload: the new config runs", "trigger", trigger, "pause", time.Since(began).Round(time.Millisecond))
	return newGen, reloadOutcome{Result: reloadSuccess}
}

// checkTimeout bounds how long a reload waits for the new pipeline's
// components to say they could start.
const checkTimeout = 20 * time.Second
