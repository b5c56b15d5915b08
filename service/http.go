package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pipelinehq/pipeline/config"
)

// phase is where the current pipeline is in its life.
type phase int

const (
	phaseStarting phase = iota
	phaseRunning
	phaseDraining
	phaseStopped
)

func (p phase) String() string {
	switch p {
	case phaseStarting:
		return "starting"
	case phaseRunning:
		return "running"
	case phaseDraining:
		return "draining"
	case phaseStopped:
		return "stopped"
	}
	return fmt.Sprintf("phase(%d)", int(p))
}

// live is the pipeline the operations endpoints report on. The handlers read
// only this, never a pipeline, so a hot reload can build the next pipeline
// and swap it in with set while the server keeps serving.
type live struct {
	mu    sync.RWMutex
	name  string
	phase phase
	// ready says whether the running pipeline can make progress
	// (engine.Pipeline.Ready); nil before there is one.
	ready func() error
}

// set makes a (new) pipeline the current one.
func (l *live) set(name string, p phase) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.name, l.phase, l.ready = name, p, nil
}

// setReady gives the current pipeline's readiness.
func (l *live) setReady(ready func() error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ready = ready
}

// setPhase moves the current pipeline on. A pipeline never goes back: a
// late "draining" must not hide that it has already stopped.
func (l *live) setPhase(p phase) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p > l.phase {
		l.phase = p
	}
}

func (l *live) snapshot() (name string, p phase, ready func() error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.name, l.phase, l.ready
}

// newHandler serves the operations endpoints. Reading is open; POST /reload
// needs token when it is not empty (see requireToken), and every request
// that could change something is refused to other origins.
func newHandler(current *live, reg *prometheus.Registry, reload func(context.Context, string) (reloadOutcome, error), token config.Secret) http.Handler {
	mux := http.NewServeMux()
	// POST /reload reloads the config as SIGHUP does and answers with the
	// outcome: 200 {"result":"success"} or {"result":"unchanged"}, or 422
	// {"result":"failure","errors":[...]} while the running pipeline goes on.
	mux.Handle("POST /reload", requireToken(token, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Minute)
		defer cancel()
		out, err := reload(ctx, "POST /reload")
		w.Header().Set("Content-Type", "application/json")
		switch {
		case err != nil:
			w.WriteHeader(http.StatusServiceUnavailable)
			out = reloadOutcome{Result: reloadFailure, Errors: []string{err.Error()}}
		case out.Result == reloadFailure:
			w.WriteHeader(http.StatusUnprocessableEntity)
		}
		_ = json.NewEncoder(w).Encode(out)
	})))
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, "pong")
	})
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {
		name, p, ready := current.snapshot()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if p != phaseRunning {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not ready: pipeline %s is %s\n", name, p)
			return
		}
		if ready != nil {
			if err := ready(); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintf(w, "not ready: pipeline %s is running but cannot make progress: %s\n", name, strings.ReplaceAll(err.Error(), "\n", "; "))
				return
			}
		}
		fmt.Fprintf(w, "ready: pipeline %s is running\n", name)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return refuseCrossOrigin(mux)
}

// httpServer is the operations server of one process.
type httpServer struct {
	server *http.Server
	addr   net.Addr
	log    *slog.Logger
	served chan struct{}
}

// startHTTP listens before it returns, so a taken port is an error of Run
// rather than a log line, and ":0" resolves to a real port at once.
func startHTTP(address string, handler http.Handler, log *slog.Logger) (*httpServer, error) {
	listener, err := net.Listen("tcp", address)
	if err != nil {
		return nil, err
	}
	s := &httpServer{
		server: &http.Server{
			Handler:           handler,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		addr:   listener.Addr(),
		log:    log,
		served: make(chan struct{}),
	}
	log.Info("http server listening", "address", s.addr.String())
	go func() {
		defer close(s.served)
		if err := s.server.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			// The pipeline keeps running without its endpoints: losing
			// metrics is no reason to stop moving records.
			log.Error("http server failed", "error", err)
		}
	}()
	return s, nil
}

// stop lets requests in progress finish for a short while, then closes
// every connection, and waits for the serving goroutine to end.
func (s *httpServer) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.server.Shutdown(ctx); err != nil {
		s.log.Warn("http server did not shut down in time; closing connections", "error", err)
		_ = s.server.Close()
	}
	<-s.served
}
