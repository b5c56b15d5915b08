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

	// Signals delivers stop and reload requests; nil means SIGINT, SIGTERM
	// and SIGHUP of this process. SIGHUP reloads the config; the first other
	// signal drains the pipeline, a second one calls ForceExit. Tests pass
	// their own channel.
	Signals <-chan os.Signal
	// ForceExit ends the process without draining; os.Exit when nil.
	ForceExit func(code int)
	// Watch reloads the config when its file changes (see watchConfig).
	Watch bool
	// WatchDebounce is how long the config's directory must be quiet after
	// a change before the file is read; DefaultWatchDebounce when 0.
	WatchDebounce time.Duration
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
// ctx is cancelled or a stop signal arrives; the last two drain it first.
// SIGHUP, POST /reload and (with Watch) a change of the config file reload
// it: the new config is built and checked before the running pipeline is
// touched (see supervisor).
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
		notified := make(chan os.Signal, 4)
		signal.Notify(notified, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
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
	sup := newSupervisor(opts, log, engine.NewMetrics(promRegistry), promRegistry)
	pipeline, err := sup.build(doc)
	if err != nil {
		return &InvalidConfigError{Errors: config.AsErrors(err)}
	}
	settings := pipeline.Settings
	applyMemoryLimit(settings.MemoryLimit, log)
	sup.current.set(settings.Name, phaseStarting)

	if settings.HTTPEnabled {
		handler := newHandler(sup.current, promRegistry, sup.requestReload, settings.HTTPAuthToken)
		server, err := startHTTP(httpAddress(doc, settings.HTTPAddress), handler, log)
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
	stopWatching := watchSignals(runCtx, cancelRun, signals, sup, opts.ForceExit, log)
	defer stopWatching()
	if opts.Watch {
		stopFileWatch, err := watchConfig(runCtx, opts.ConfigPath, opts.WatchDebounce, sup, log)
		if err != nil {
			return fmt.Errorf("watching %s: %w", opts.ConfigPath, err)
		}
		defer stopFileWatch()
	}

	log.Info("pipeline starting", "name", settings.Name, "config", doc.File)
	err = sup.run(runCtx, doc, pipeline)
	sup.current.setPhase(phaseStopped)
	if err != nil {
		// Not logged here: the engine has logged the failure as it stopped,
		// and the caller reports the returned error.
		return err
	}
	log.Info("pipeline finished")
	return nil
}

// watchSignals turns signals into requests: SIGHUP reloads the config, the
// first other signal drains the pipeline (by cancelling the run), and a
// second one calls forceExit. The endpoints report the pipeline as draining
// from the moment a stop is requested, whether by a signal or by the
// caller's context. The returned function stops the watcher and waits for
// it, so no goroutine outlives Run.
func watchSignals(runCtx context.Context, cancelRun context.CancelFunc, signals <-chan os.Signal,
	sup *supervisor, forceExit func(int), log *slog.Logger) (stop func()) {
	if forceExit == nil {
		forceExit = os.Exit
	}
	finished := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		done := runCtx.Done()
		for stopping := false; ; {
			select {
			case sig := <-signals:
				switch {
				case sig == syscall.SIGHUP:
					if !stopping {
						log.Info("reload requested", "signal", sig.String())
						sup.requestReloadAsync("SIGHUP")
					}
				case !stopping:
					log.Info("stop requested; draining (signal again to exit at once)", "signal", sig.String())
					stopping = true
					sup.current.setPhase(phaseDraining)
					cancelRun()
				default:
					log.Error("second stop signal; exiting without draining: records read but not written are not committed and will be read again", "signal", sig.String())
					forceExit(exitCode(sig))
				}
			case <-done:
				done = nil
				if !stopping {
					log.Info("stop requested; draining")
					stopping = true
					sup.current.setPhase(phaseDraining)
				}
			case <-finished:
				return
			}
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
