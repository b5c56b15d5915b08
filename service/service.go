package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
)

// Options describe one run of a pipeline process.
type Options struct {
	// ConfigPath is the YAML file to run.
	ConfigPath string
	// Overrides are `path=value` settings applied to the file (--set).
	Overrides []string
	// Registry knows the component types the config may use.
	Registry *engine.Registry

	// LogLevel and LogFormat override the config's logger section when not
	// empty (command-line flags win over the file).
	LogLevel  string
	LogFormat string
	// LogOutput receives log lines; os.Stderr when nil.
	LogOutput io.Writer

	// Signals delivers stop requests; nil means SIGINT and SIGTERM of this
	// process. The first one drains the pipeline, a second one calls
	// ForceExit. Tests pass their own channel.
	Signals <-chan os.Signal
	// ForceExit ends the process without draining; os.Exit when nil.
	ForceExit func(code int)
	// HTTPListening, when set, is told the address the operations server
	// listens on, which is how a caller learns the port chosen for ":0".
	HTTPListening func(addr net.Addr)
}

// InvalidConfigError is what Run returns when the config cannot be loaded or
// built: every problem of the file, found before anything was started. It is
// a type of its own because errors of a running pipeline may wrap positioned
// config errors too (an input's paths checked at start), and a caller must
// tell "fix your file" from "the run failed" by when it happened.
type InvalidConfigError struct {
	Errors config.Errors
}

func (e *InvalidConfigError) Error() string { return e.Errors.Error() }
func (e *InvalidConfigError) Unwrap() error { return e.Errors }

// Run loads, builds and runs the pipeline described by opts until it ends,
// ctx is cancelled or a signal arrives; the last two drain it first.
//
// Problems with the config are returned as *InvalidConfigError, every one of
// them, and nothing is started. Any other error is a failure of the run. Run
// returns only once everything it started (the HTTP server, its goroutines)
// has stopped.
func Run(ctx context.Context, opts Options) error {
	if opts.Registry == nil {
		return errors.New("service: no component registry given")
	}
	// Subscribed before anything else, so a signal during start-up is held
	// for the watcher (which drains what started) instead of killing the
	// process.
	signals := opts.Signals
	if signals == nil {
		notified := make(chan os.Signal, 2)
		signal.Notify(notified, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(notified)
		signals = notified
	}
	doc, err := config.LoadFile(opts.ConfigPath, config.LoadOptions{Overrides: opts.Overrides})
	if err != nil {
		return &InvalidConfigError{Errors: config.AsErrors(err)}
	}
	logSettings, err := loggerSettings(doc, opts.LogLevel, opts.LogFormat)
	if err != nil {
		return err
	}
	logOutput := opts.LogOutput
	if logOutput == nil {
		logOutput = os.Stderr
	}
	log := newLogger(logOutput, logSettings)

	promRegistry := prometheus.NewRegistry()
	promRegistry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	metrics := engine.NewMetrics(promRegistry)

	pipeline, err := engine.Build(doc, opts.Registry, engine.BuildOptions{Logger: log, Metrics: metrics})
	if err != nil {
		return &InvalidConfigError{Errors: config.AsErrors(err)}
	}
	settings := pipeline.Settings
	applyMemoryLimit(settings.MemoryLimit, log)

	current := &live{}
	current.set(settings.Name, phaseStarting)

	forceExit := opts.ForceExit
	if forceExit == nil {
		forceExit = os.Exit
	}

	if settings.HTTPEnabled {
		server, err := startHTTP(settings.HTTPAddress, newHandler(current, promRegistry), log)
		if err != nil {
			return fmt.Errorf("http server: %w", err)
		}
		// Deferred so the server also stops when the run fails; Run returns
		// only after it has.
		defer server.stop()
		if opts.HTTPListening != nil {
			opts.HTTPListening(server.addr)
		}
	}

	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	stopWatching := watchStopRequests(runCtx, cancelRun, signals, forceExit, current, log)
	defer stopWatching()

	log.Info("pipeline starting", "name", settings.Name, "config", doc.File)
	hooks := engine.Hooks{
		Started:  func() { current.setPhase(phaseRunning) },
		Draining: func() { current.setPhase(phaseDraining) },
	}
	err = pipeline.RunWith(runCtx, hooks)
	// Under exactly-once an aborted transaction rewinds: the pipeline is
	// built again and resumes from the last commit. Rewinds in a row that
	// commit nothing back off, and end the run after maxRewinds.
	for rewinds := 0; ; {
		var rewind *engine.RewindError
		if !errors.As(err, &rewind) || runCtx.Err() != nil {
			break
		}
		if rewind.Commits > 0 {
			rewinds = 0
		}
		rewinds++
		if rewinds > maxRewinds {
			err = fmt.Errorf("%d transactions in a row aborted without a commit between them; the last: %w", maxRewinds, err)
			break
		}
		backoff := min(time.Duration(1<<(rewinds-1))*rewindBackoff, 30*time.Second)
		log.Warn("rebuilding the pipeline to resume from the last commit", "reason", rewind.Cause, "attempt", rewinds, "backoff", backoff)
		current.setPhase(phaseStarting)
		select {
		case <-time.After(backoff):
		case <-runCtx.Done():
		}
		if runCtx.Err() != nil {
			break
		}
		pipeline, err = engine.Build(doc, opts.Registry, engine.BuildOptions{Logger: log, Metrics: metrics})
		if err != nil {
			break
		}
		err = pipeline.RunWith(runCtx, hooks)
	}
	current.setPhase(phaseStopped)
	if err != nil {
		// Not logged here: the engine has logged the failure as it stopped,
		// and the caller reports the returned error.
		return err
	}
	log.Info("pipeline finished")
	return nil
}

// How rewinds under exactly-once are retried.
const (
	maxRewinds    = 10
	rewindBackoff = 200 * time.Millisecond
)

// watchStopRequests drains the pipeline on the first signal (by cancelling
// the run) and calls forceExit on a second one. The endpoints report the
// pipeline as draining from the moment a stop is requested, whether by a
// signal or by the caller's context. The returned function stops the
// watcher and waits for it, so no goroutine outlives Run.
func watchStopRequests(runCtx context.Context, cancelRun context.CancelFunc, signals <-chan os.Signal,
	forceExit func(int), current *live, log *slog.Logger) (stop func()) {
	finished := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case sig := <-signals:
			log.Info("stop requested; draining (signal again to exit at once)", "signal", sig.String())
			cancelRun()
		case <-runCtx.Done():
			log.Info("stop requested; draining")
		case <-finished:
			return
		}
		current.setPhase(phaseDraining)
		select {
		case sig := <-signals:
			log.Error("second stop signal; exiting without draining: records read but not written are not committed and will be read again", "signal", sig.String())
			forceExit(exitCode(sig))
		case <-finished:
		}
	}()
	return func() {
		close(finished)
		<-exited
	}
}

// exitCode follows the shell convention of 128 + signal number, so a forced
// exit on SIGINT reads as 130.
func exitCode(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 1
}

// applyMemoryLimit sets the Go soft memory limit from the config. With a
// limit to stop the heap, the collector can run less often; the environment
// (GOMEMLIMIT, GOGC) still decides when it says anything.
func applyMemoryLimit(limit int64, log *slog.Logger) {
	if limit <= 0 || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetMemoryLimit(limit)
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
	log.Debug("memory limit set", "bytes", limit)
}
