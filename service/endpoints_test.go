package service

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/inputs"
	"github.com/pipelinehq/pipeline/outputs"
	"github.com/pipelinehq/pipeline/processors"
)

// TestEndpointsWithBuiltinComponents runs a real pipeline (a generate input
// with an interval, so the run lasts until stopped) and checks the
// operations endpoints across its life. The service itself never imports
// components; only its tests do.
func TestEndpointsWithBuiltinComponents(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	s := start(t, ctx, Options{
		ConfigPath: writeConfig(t, `
name: ticker
input:
  generate: { value: '"tick"', interval: 2ms }
pipeline:
  processors:
    - map: { value: 'upper(value)' }
output:
  drop: {}
state: { dir: `+strconv.Quote(t.TempDir())+` }
http: { address: 127.0.0.1:0 }
`),
		Registry:  engine.NewRegistry(inputs.Register, processors.Register, outputs.Register),
		Signals:   make(chan os.Signal),
		LogOutput: io.Discard,
	})

	if code, body := get(t, s.baseURL+"/ping"); code != http.StatusOK || body != "pong" {
		t.Errorf("/ping: %d %q", code, body)
	}
	waitForStatus(t, s.baseURL+"/ready", http.StatusOK)
	if _, body := get(t, s.baseURL+"/ready"); body != "ready: pipeline ticker is running\n" {
		t.Errorf("/ready body %q", body)
	}

	// Counters carry the component's kind, label and path, and grow.
	received := regexp.MustCompile(`(?m)^pipeline_component_received_total\{kind="input",label="generate",path="input"\} (\d+)$`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := get(t, s.baseURL+"/metrics")
		if m := received.FindStringSubmatch(body); m != nil {
			if n, _ := strconv.Atoi(m[1]); n >= 3 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics: no received counter of 3 or more for the input:\n%s", body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, metrics := get(t, s.baseURL+"/metrics")
	for _, want := range []string{
		`pipeline_component_received_total{kind="processor",label="map",path="pipeline.processors.0"}`,
		`pipeline_component_sent_total{kind="output",label="drop",path="output"}`,
		"\ngo_goroutines ",
		"\nprocess_cpu_seconds_total ",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	stop()
	if err := waitResult(t, s.result); err != nil {
		t.Fatalf("Run after stop: %v", err)
	}
	if _, err := noKeepAlive.Get(s.baseURL + "/ready"); err == nil {
		t.Error("the HTTP server still answers after Run returned")
	}
}

// TestReadyFollowsPhases checks /ready for every phase, including the ones a
// live run passes too quickly to observe.
func TestReadyFollowsPhases(t *testing.T) {
	current := &live{}
	handler := newHandler(current, prometheus.NewRegistry(), nil, "")
	for _, tc := range []struct {
		phase phase
		code  int
		body  string
	}{
		{phaseStarting, http.StatusServiceUnavailable, "not ready: pipeline p is starting\n"},
		{phaseRunning, http.StatusOK, "ready: pipeline p is running\n"},
		{phaseDraining, http.StatusServiceUnavailable, "not ready: pipeline p is draining\n"},
		{phaseStopped, http.StatusServiceUnavailable, "not ready: pipeline p is stopped\n"},
	} {
		current.set("p", tc.phase)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ready", nil))
		if rec.Code != tc.code || rec.Body.String() != tc.body {
			t.Errorf("%s: %d %q, want %d %q", tc.phase, rec.Code, rec.Body.String(), tc.code, tc.body)
		}
	}

	// A pipeline never goes back: a late "draining" keeps "stopped".
	current.setPhase(phaseDraining)
	if _, p, _ := current.snapshot(); p != phaseStopped {
		t.Errorf("phase after a late draining: %s, want stopped", p)
	}
	// A reload swaps in the next pipeline, running.
	current.set("next", phaseRunning)
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ready", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != "ready: pipeline next is running\n" {
		t.Errorf("after a swap: %d %q", rec.Code, rec.Body.String())
	}
}

// A running pipeline that cannot make progress is not ready, with its
// components' reasons; ready again once they can.
func TestReadyAsksTheRunningPipeline(t *testing.T) {
	current := &live{}
	handler := newHandler(current, prometheus.NewRegistry(), nil, "")
	var reason error = errors.New("input: no partitions assigned by consumer group g yet (joining)")
	current.set("p", phaseRunning)
	current.setReady(func() error { return reason })
	get := func() (int, string) {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ready", nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := get(); code != http.StatusServiceUnavailable ||
		body != "not ready: pipeline p is running but cannot make progress: input: no partitions assigned by consumer group g yet (joining)\n" {
		t.Errorf("%d %q", code, body)
	}
	reason = errors.Join(errors.New("input: a"), errors.New("output: b"))
	if code, body := get(); code != http.StatusServiceUnavailable || body != "not ready: pipeline p is running but cannot make progress: input: a; output: b\n" {
		t.Errorf("two reasons: %d %q", code, body)
	}
	reason = nil
	if code, body := get(); code != http.StatusOK || body != "ready: pipeline p is running\n" {
		t.Errorf("%d %q", code, body)
	}
	// The next pipeline starts without the last one's readiness.
	current.set("next", phaseRunning)
	if code, _ := get(); code != http.StatusOK {
		t.Errorf("after a swap: %d", code)
	}
}
