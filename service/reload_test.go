package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/inputs"
	"github.com/pipelinehq/pipeline/outputs"
	"github.com/pipelinehq/pipeline/processors"
)

// Reload tests run real built-in components (generate → map → file) plus
// two fakes: an output whose Check fails (a sink that cannot be reached)
// and an input whose Start fails (one that passes its check but then cannot
// start).

func reloadRegistry() *engine.Registry {
	return engine.NewRegistry(inputs.Register, processors.Register, outputs.Register, func(r *engine.Registry) {
		r.AddOutput(engine.OutputPlugin{
			Spec: config.Spec{Name: "unreachable", Summary: "A sink whose check fails."},
			New: func(*config.Parsed, *engine.Resources) (engine.Output, error) {
				return unreachableOutput{}, nil
			},
		})
		r.AddInput(engine.InputPlugin{
			Spec: config.Spec{Name: "failing_start", Summary: "An input whose start fails."},
			New: func(*config.Parsed, *engine.Resources) (engine.Input, error) {
				return failingStartInput{}, nil
			},
		})
	})
}

type unreachableOutput struct{}

func (unreachableOutput) Check(context.Context) error {
	return errors.New("no broker answers at 10.0.0.1:9")
}
func (unreachableOutput) Write(context.Context, []*engine.Record) error {
	return errors.New("unreachable")
}
func (unreachableOutput) Close(context.Context) error { return nil }

type failingStartInput struct{}

func (failingStartInput) Start(context.Context) error {
	return errors.New("the source refused the start")
}
func (failingStartInput) Read(ctx context.Context) (engine.InputBatch, error) {
	<-ctx.Done()
	return engine.InputBatch{}, ctx.Err()
}
func (failingStartInput) Close(context.Context) error { return nil }

// reloadConfig is a pipeline that writes "<tag>-<n>" for n = 0, 1, 2, … to
// out, a line every 2 ms, keeping its positions beside out.
func reloadConfig(tag, out, extra string) string {
	return fmt.Sprintf(`
name: reloading
input:
  generate: { value: 'meta.offset', interval: 2ms }
pipeline:
  processors:
    - map: { value: '"%s-" + string(value)' }
output:
  file: { path: %q }
state: { dir: %q }
http: { address: 127.0.0.1:0 }
%s`, tag, out, filepath.Join(filepath.Dir(out), "state"), extra)
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func postReload(t *testing.T, baseURL string) (int, reloadOutcome) {
	t.Helper()
	resp, err := noKeepAlive.Post(baseURL+"/reload", "", nil)
	if err != nil {
		t.Fatalf("POST /reload: %v", err)
	}
	defer resp.Body.Close()
	var out reloadOutcome
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("POST /reload: %v", err)
	}
	return resp.StatusCode, out
}

// outputLines reads the output file; each line is tag-n.
func outputLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	s := strings.TrimSuffix(string(data), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// awaitTag waits until the output holds a line with tag.
func awaitTag(t *testing.T, path, tag string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		lines := outputLines(t, path)
		if len(lines) > 0 && strings.HasPrefix(lines[len(lines)-1], tag+"-") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s- line in %s after 10s; last lines %q", tag, path, lines[max(0, len(lines)-3):])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// requireCleanSwitches wants the numbers 0, 1, 2, … without a gap or a
// repeat, and the tags in the given order, each one block.
func requireCleanSwitches(t *testing.T, lines []string, tags ...string) {
	t.Helper()
	block := 0
	for i, line := range lines {
		tag, n, ok := strings.Cut(line, "-")
		if !ok || n != strconv.Itoa(i) {
			t.Fatalf("line %d is %q, want number %d: a record was lost or repeated across a reload", i+1, line, i)
		}
		for block < len(tags) && tag != tags[block] {
			block++
		}
		if block == len(tags) {
			t.Fatalf("line %d is %q: tags out of order, want blocks %v", i+1, line, tags)
		}
	}
	if first, _, _ := strings.Cut(lines[len(lines)-1], "-"); first != tags[len(tags)-1] {
		t.Fatalf("the last line is %q, want tag %s", lines[len(lines)-1], tags[len(tags)-1])
	}
}

func metricValue(t *testing.T, baseURL, series string) string {
	t.Helper()
	_, body := get(t, baseURL+"/metrics")
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	t.Fatalf("/metrics has no %s", series)
	return ""
}

// TestReloadSwapsAtACleanBoundary reloads by POST /reload and by SIGHUP:
// an unchanged file does nothing, a changed one runs after the old one
// drained, continuing the input where it stopped: the output's numbers have
// no gap or repeat, and each config's lines are one block.
func TestReloadSwapsAtACleanBoundary(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	dir := t.TempDir()
	path, out := filepath.Join(dir, "p.yaml"), filepath.Join(dir, "out.txt")
	write := func(text string) { writeFile(t, path, text) }
	write(reloadConfig("one", out, ""))
	signals := make(chan os.Signal, 2)
	var logs syncBuffer
	s := start(t, t.Context(), Options{ConfigPath: path, Registry: reloadRegistry(), Signals: signals, LogOutput: &logs})
	awaitTag(t, out, "one")

	// The same config written otherwise (a comment, other quoting).
	write("# a comment\n" + strings.Replace(reloadConfig("one", out, ""), "'meta.offset'", "meta.offset", 1))
	if code, got := postReload(t, s.baseURL); code != http.StatusOK || got.Result != reloadUnchanged {
		t.Fatalf("POST /reload of the same config: %d %+v, want 200 unchanged", code, got)
	}
	// A new logger level cannot apply to the running process: it says so.
	write(reloadConfig("two", out, "logger: {level: debug}"))
	if code, got := postReload(t, s.baseURL); code != http.StatusOK || got.Result != reloadSuccess {
		t.Fatalf("POST /reload: %d %+v, want 200 success", code, got)
	}
	if !strings.Contains(logs.String(), "reload: http, logger and memory_limit take effect only when the process starts") {
		t.Errorf("a changed logger level is not reported:\n%s", logs.String())
	}
	awaitTag(t, out, "two")
	waitForStatus(t, s.baseURL+"/ready", http.StatusOK)

	write(reloadConfig("three", out, "logger: {level: debug}"))
	signals <- syscall.SIGHUP
	awaitTag(t, out, "three")
	if got := metricValue(t, s.baseURL, `pipeline_config_reloads_total{result="success"}`); got != "2" {
		t.Errorf("reloads_total{success} = %s, want 2", got)
	}
	if got := metricValue(t, s.baseURL, `pipeline_config_reloads_total{result="unchanged"}`); got != "1" {
		t.Errorf("reloads_total{unchanged} = %s, want 1", got)
	}
	signals <- syscall.SIGTERM
	if err := waitResult(t, s.result); err != nil {
		t.Fatalf("Run: %v", err)
	}
	requireCleanSwitches(t, outputLines(t, out), "one", "two", "three")
	if !strings.Contains(logs.String(), `msg="reload: the new config runs" trigger=SIGHUP`) {
		t.Errorf("the SIGHUP reload is not logged:\n%s", logs.String())
	}
}

// TestReloadRefusesWhatCannotRun: an invalid file, a file whose sink cannot
// be reached, and one whose input then fails to start each leave a pipeline
// of the last good config running, with the reason (file:line:col for the
// config error); the failure metrics say so, and a fixed file applies.
func TestReloadRefusesWhatCannotRun(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	dir := t.TempDir()
	path, out := filepath.Join(dir, "p.yaml"), filepath.Join(dir, "out.txt")
	write := func(text string) { writeFile(t, path, text) }
	write(reloadConfig("good", out, ""))
	var logs syncBuffer
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	s := start(t, ctx, Options{ConfigPath: path, Registry: reloadRegistry(), Signals: make(chan os.Signal), LogOutput: &logs})
	awaitTag(t, out, "good")

	write(strings.Replace(reloadConfig("bad", out, ""), "'\"bad-\" + string(value)'", "'\"bad-\" +'", 1))
	code, got := postReload(t, s.baseURL)
	if code != http.StatusUnprocessableEntity || got.Result != reloadFailure || len(got.Errors) != 1 ||
		!strings.HasPrefix(got.Errors[0], path+":7:29: ") || !strings.Contains(got.Errors[0], "pipeline.processors.0.map.value: expression:") {
		t.Fatalf("POST /reload of an invalid file: %d %+v, want 422 with the error at %s:7:29", code, got, path)
	}
	if metricValue(t, s.baseURL, "pipeline_config_last_reload_successful") != "0" {
		t.Error("last_reload_successful is not 0 after a failed reload")
	}

	write(strings.Replace(reloadConfig("unreachable", out, ""), "file: { path: "+strconv.Quote(out)+" }", "unreachable: {}", 1))
	if code, got := postReload(t, s.baseURL); code != http.StatusUnprocessableEntity || len(got.Errors) != 1 ||
		got.Errors[0] != "output: no broker answers at 10.0.0.1:9" {
		t.Fatalf("POST /reload of a config whose sink is unreachable: %d %+v", code, got)
	}

	write(strings.Replace(reloadConfig("nostart", out, ""), "generate: { value: 'meta.offset', interval: 2ms }", "failing_start: {}", 1))
	if code, got := postReload(t, s.baseURL); code != http.StatusUnprocessableEntity || len(got.Errors) != 1 ||
		!strings.Contains(got.Errors[0], "the source refused the start") {
		t.Fatalf("POST /reload of a config that fails to start: %d %+v", code, got)
	}
	// The good config runs again, going on where it was.
	before := len(outputLines(t, out))
	deadline := time.Now().Add(10 * time.Second)
	for len(outputLines(t, out)) < before+10 {
		if time.Now().After(deadline) {
			t.Fatalf("after the failed start the good config does not run again:\n%s", logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	waitForStatus(t, s.baseURL+"/ready", http.StatusOK)

	write(reloadConfig("fixed", out, ""))
	if code, got := postReload(t, s.baseURL); code != http.StatusOK || got.Result != reloadSuccess {
		t.Fatalf("POST /reload of the fixed file: %d %+v", code, got)
	}
	awaitTag(t, out, "fixed")
	if got := metricValue(t, s.baseURL, `pipeline_config_reloads_total{result="failure"}`); got != "3" {
		t.Errorf("reloads_total{failure} = %s, want 3", got)
	}
	if metricValue(t, s.baseURL, "pipeline_config_last_reload_successful") != "1" {
		t.Error("last_reload_successful is not 1 after the fix")
	}
	stop()
	if err := waitResult(t, s.result); err != nil {
		t.Fatalf("Run: %v", err)
	}
	requireCleanSwitches(t, outputLines(t, out), "good", "fixed")
	for _, want := range []string{"reload: config error; the running pipeline goes on",
		"reload: the new config cannot start; the running pipeline goes on",
		"reload: the new pipeline failed to start; starting the previous config again"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, logs.String())
		}
	}
}
