package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
)

// The tests here use small fake components so that they exercise the
// service alone; endpoints_test.go runs the real built-in components.

// gate holds output writes until opened, so a test can keep a pipeline
// draining for as long as it wants to look at it.
type gate struct {
	once sync.Once
	ch   chan struct{}
}

func newGate() *gate  { return &gate{ch: make(chan struct{})} }
func (g *gate) open() { g.once.Do(func() { close(g.ch) }) }

// testRegistry has a "ticks" input that reads a record every interval until
// stopped, and a "gated" output that writes once the gate is open.
func testRegistry(g *gate) *engine.Registry {
	return engine.NewRegistry(func(r *engine.Registry) {
		r.AddInput(engine.InputPlugin{
			Spec: config.Spec{Name: "ticks", Summary: "A record every interval.", Fields: []config.Field{
				config.Duration("interval", "Time between records.").Default("5ms"),
			}},
			New: func(conf *config.Parsed, res *engine.Resources) (engine.Input, error) {
				res.Logger.Debug("ticks input built")
				return &ticks{interval: conf.Duration("interval"), source: &engine.Source{Input: res.Label, Partition: "ticks"}}, nil
			},
		})
		r.AddOutput(engine.OutputPlugin{
			Spec: config.Spec{Name: "gated", Summary: "Writes nowhere, once the gate is open."},
			New: func(*config.Parsed, *engine.Resources) (engine.Output, error) {
				return gatedOutput{g}, nil
			},
		})
	})
}

type ticks struct {
	interval time.Duration
	source   *engine.Source
	n        int64
}

func (t *ticks) Read(ctx context.Context) (engine.InputBatch, error) {
	select {
	case <-time.After(t.interval):
	case <-ctx.Done():
		return engine.InputBatch{}, ctx.Err()
	}
	t.n++
	rec := engine.NewRecord([]byte("tick"), engine.Text)
	rec.Source, rec.Offset = t.source, t.n
	return engine.InputBatch{Records: []*engine.Record{rec}, Partition: "ticks", Position: engine.IntPosition("n", t.n)}, nil
}

func (t *ticks) Close(context.Context) error { return nil }

type gatedOutput struct{ g *gate }

func (o gatedOutput) Write(ctx context.Context, _ []*engine.Record) error {
	select {
	case <-o.g.ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (gatedOutput) Close(context.Context) error { return nil }

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// started runs the service in the background and returns the operations
// server's base URL and the channel Run's result arrives on.
type started struct {
	baseURL string
	result  chan error
}

func start(t *testing.T, ctx context.Context, opts Options) started {
	t.Helper()
	addrs := make(chan net.Addr, 1)
	opts.HTTPListening = func(a net.Addr) { addrs <- a }
	result := make(chan error, 1)
	go func() { result <- Run(ctx, opts) }()
	select {
	case a := <-addrs:
		return started{baseURL: "http://" + a.String(), result: result}
	case err := <-result:
		t.Fatalf("Run ended before the HTTP server listened: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the HTTP server did not start")
	}
	return started{}
}

// client never keeps connections, so none outlives a test.
var noKeepAlive = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := noKeepAlive.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

func waitForStatus(t *testing.T, url string, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := get(t, url)
		if code == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: status %d (%q), want %d", url, code, body, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitForHeldRecord waits until the ticks input has read a record. With the
// gate closed that record cannot be written, so a drain cannot finish and
// the test can look at the service while it drains.
func waitForHeldRecord(t *testing.T, baseURL string) {
	t.Helper()
	counter := regexp.MustCompile(`(?m)^pipeline_component_received_total\{kind="input",label="ticks",path="input"\} [1-9]`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := get(t, baseURL+"/metrics")
		if counter.MatchString(body) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics: the input read nothing:\n%s", body)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitResult(t *testing.T, result chan error) error {
	t.Helper()
	select {
	case err := <-result:
		return err
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return")
		return nil
	}
}

const ticksConfig = `
input:
  ticks: {interval: 2ms}
output:
  gated: {}
http:
  address: 127.0.0.1:0
`

func TestSignalDrainsAndEndpointsFollowTheRun(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	g := newGate()
	defer g.open()
	signals := make(chan os.Signal, 2)
	var logs syncBuffer
	s := start(t, t.Context(), Options{
		ConfigPath: writeConfig(t, ticksConfig),
		Registry:   testRegistry(g),
		Signals:    signals,
		ForceExit:  func(code int) { t.Errorf("ForceExit(%d) after one signal", code) },
		LogOutput:  &logs,
	})

	if code, body := get(t, s.baseURL+"/ping"); code != 200 || body != "pong" {
		t.Errorf("/ping: %d %q, want 200 \"pong\"", code, body)
	}
	waitForStatus(t, s.baseURL+"/ready", http.StatusOK)
	if _, body := get(t, s.baseURL+"/metrics"); !strings.Contains(body, "\ngo_goroutines ") {
		t.Errorf("/metrics lacks the Go collector's metrics:\n%s", body)
	}
	waitForHeldRecord(t, s.baseURL)

	// Writes are held, so the drain cannot finish: /ready must say so.
	signals <- syscall.SIGTERM
	waitForStatus(t, s.baseURL+"/ready", http.StatusServiceUnavailable)
	if _, body := get(t, s.baseURL+"/ready"); body != "not ready: pipeline test is draining\n" {
		t.Errorf("/ready while draining: %q", body)
	}
	g.open()
	if err := waitResult(t, s.result); err != nil {
		t.Fatalf("Run after a signal: %v, want nil (a clean drain)", err)
	}
	if _, err := noKeepAlive.Get(s.baseURL + "/ping"); err == nil {
		t.Error("the HTTP server still answers after Run returned")
	}
	if !strings.Contains(logs.String(), "stop requested; draining") {
		t.Errorf("logs do not mention the drain:\n%s", logs.String())
	}
}

func TestSecondSignalForcesExit(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	g := newGate()
	defer g.open()
	signals := make(chan os.Signal, 2)
	exitCodes := make(chan int, 1)
	s := start(t, t.Context(), Options{
		ConfigPath: writeConfig(t, ticksConfig),
		Registry:   testRegistry(g),
		Signals:    signals,
		ForceExit:  func(code int) { exitCodes <- code },
		LogOutput:  io.Discard,
	})
	waitForStatus(t, s.baseURL+"/ready", http.StatusOK)
	waitForHeldRecord(t, s.baseURL)
	signals <- syscall.SIGINT
	signals <- syscall.SIGINT
	select {
	case code := <-exitCodes:
		if code != 130 {
			t.Errorf("forced exit code %d, want 130 (128+SIGINT)", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a second signal did not force an exit")
	}
	// ForceExit is os.Exit in real use; here the run still has to end.
	g.open()
	waitResult(t, s.result)
}

func TestContextCancelDrains(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	g := newGate()
	g.open()
	ctx, cancel := context.WithCancel(t.Context())
	s := start(t, ctx, Options{
		ConfigPath: writeConfig(t, ticksConfig),
		Registry:   testRegistry(g),
		Signals:    make(chan os.Signal),
		LogOutput:  io.Discard,
	})
	waitForStatus(t, s.baseURL+"/ready", http.StatusOK)
	cancel()
	if err := waitResult(t, s.result); err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
}

func TestConfigErrorsStartNothing(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	path := writeConfig(t, "input:\n  tick: {}\noutput:\n  gated: {}\nhttp:\n  address: 127.0.0.1:0\n")
	listened := false
	err := Run(t.Context(), Options{
		ConfigPath:    path,
		Registry:      testRegistry(newGate()),
		Signals:       make(chan os.Signal),
		LogOutput:     io.Discard,
		HTTPListening: func(net.Addr) { listened = true },
	})
	var invalid *InvalidConfigError
	if !errors.As(err, &invalid) {
		t.Fatalf("Run: %v (%T), want *InvalidConfigError", err, err)
	}
	errs := invalid.Errors
	want := path + `:2:3: input.tick: unknown input "tick", did you mean "ticks"?`
	if len(errs) != 1 || errs[0].Error() != want {
		t.Errorf("errors:\n%v\nwant:\n%s", err, want)
	}
	if listened {
		t.Error("the HTTP server started for an invalid config")
	}
}

func TestOverridesApply(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	// The file alone would fight over the default port; the override moves it.
	path := writeConfig(t, "input:\n  ticks: {}\noutput:\n  gated: {}\n")
	g := newGate()
	g.open()
	ctx, cancel := context.WithCancel(t.Context())
	s := start(t, ctx, Options{
		ConfigPath: path,
		Overrides:  []string{"http.address=127.0.0.1:0", "input.ticks.interval=1ms"},
		Registry:   testRegistry(g),
		Signals:    make(chan os.Signal),
		LogOutput:  io.Discard,
	})
	waitForStatus(t, s.baseURL+"/ready", http.StatusOK)
	cancel()
	if err := waitResult(t, s.result); err != nil {
		t.Fatal(err)
	}
}

func TestPortInUseIsAnError(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	err = Run(t.Context(), Options{
		ConfigPath: writeConfig(t, ticksConfig),
		Overrides:  []string{"http.address=" + taken.Addr().String()},
		Registry:   testRegistry(newGate()),
		Signals:    make(chan os.Signal),
		LogOutput:  io.Discard,
	})
	if err == nil || !strings.Contains(err.Error(), "http server: listen tcp "+taken.Addr().String()) {
		t.Fatalf("Run: %v, want a listen error", err)
	}
}

func TestLoggerFromConfigAndOverrides(t *testing.T) {
	for _, tc := range []struct {
		name, config, level, format string
		wantJSON, wantDebug         bool
	}{
		{name: "defaults", wantJSON: false, wantDebug: false},
		{name: "config", config: "logger: {level: debug, format: json}\n", wantJSON: true, wantDebug: true},
		{name: "flags win", config: "logger: {level: debug, format: json}\n", level: "info", format: "text"},
		{name: "flags only", level: "debug", format: "json", wantJSON: true, wantDebug: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Cleanup(func() { goleak.VerifyNone(t) })
			g := newGate()
			g.open()
			ctx, cancel := context.WithCancel(t.Context())
			var logs syncBuffer
			s := start(t, ctx, Options{
				ConfigPath: writeConfig(t, ticksConfig+tc.config),
				Registry:   testRegistry(g),
				Signals:    make(chan os.Signal),
				LogLevel:   tc.level,
				LogFormat:  tc.format,
				LogOutput:  &logs,
			})
			waitForStatus(t, s.baseURL+"/ready", http.StatusOK)
			cancel()
			if err := waitResult(t, s.result); err != nil {
				t.Fatal(err)
			}
			out := logs.String()
			first, _, _ := strings.Cut(out, "\n")
			if isJSON := json.Valid([]byte(first)); isJSON != tc.wantJSON {
				t.Errorf("first log line %q: JSON %v, want %v", first, isJSON, tc.wantJSON)
			}
			if hasDebug := strings.Contains(out, "ticks input built"); hasDebug != tc.wantDebug {
				t.Errorf("debug line logged: %v, want %v:\n%s", hasDebug, tc.wantDebug, out)
			}
			if !strings.Contains(out, "http server listening") {
				t.Errorf("logs lack the listen address:\n%s", out)
			}
		})
	}
}

func TestBadLogFlagIsAnError(t *testing.T) {
	err := Run(t.Context(), Options{
		ConfigPath: writeConfig(t, ticksConfig),
		Registry:   testRegistry(newGate()),
		LogLevel:   "trace",
	})
	if err == nil || err.Error() != `log level "trace" is not one of debug, info, warn, error` {
		t.Fatalf("Run: %v", err)
	}
}

func TestHTTPDisabled(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	g := newGate()
	g.open()
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	listened := false
	err := Run(ctx, Options{
		ConfigPath:    writeConfig(t, ticksConfig+"  enabled: false\n"),
		Registry:      testRegistry(g),
		Signals:       make(chan os.Signal),
		LogOutput:     io.Discard,
		HTTPListening: func(net.Addr) { listened = true },
	})
	if err != nil {
		t.Fatal(err)
	}
	if listened {
		t.Error("the HTTP server started with http.enabled false")
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's writes while the test
// reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
