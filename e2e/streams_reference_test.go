package e2e

// The two systems of the streams differential test (streams_diff_test.go),
// and the third opinion for sliding windows:
//
//   - Kafka Streams 4.1.1, the real library: e2e/streams/src/StreamsReference.java
//     run by e2e/streams/streams.sh, one JVM for every event set, each set once
//     for both modes;
//   - the pipeline's built binary, one run per case, a file in and a file out,
//     late records to a dead-letter file;
//   - slidingByDefinition, sliding windows computed from their definition.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// sdResult is one emitted result of one operation: a window's value, or a
// tombstone (Value nil).
type sdResult struct {
	Key        string
	Start, End int64
	Value      *int64
	After      int // the event whose arrival emitted it, -1 when unknown
}

// sdOutput is what one system made of one case: per operation ("count",
// "sum") its results in the order emitted, and the events it dropped as late.
type sdOutput struct {
	Results map[string][]sdResult
	Late    map[int]bool
	// Kafka Streams only: events that grew dropped-records-total and yet
	// updated a window (dropped from some hopping or sliding windows, kept
	// in others).
	Partly       map[int]bool
	Elapsed, CPU time.Duration // Kafka Streams: its driver's run, and the CPU time it took
}

func newSDOutput() *sdOutput {
	return &sdOutput{Results: map[string][]sdResult{}, Late: map[int]bool{}, Partly: map[int]bool{}}
}

var sdOps = []string{"count", "sum"}

// streamsScript is the Kafka Streams reference's build-and-run script.
func streamsScript() string { return filepath.Join(repoRoot, "e2e", "streams", "streams.sh") }

// errStreamsUnavailable: java, javac or mvn is missing, or Maven Central
// cannot be reached (streams.sh exits 3).
var errStreamsUnavailable = errors.New("kafka streams reference unavailable")

// buildStreamsReference fetches the jars and compiles the reference, both
// cached, and says how long it took.
func buildStreamsReference(ctx context.Context) (time.Duration, error) {
	began := time.Now()
	if _, err := exec.LookPath("bash"); err != nil {
		return 0, fmt.Errorf("%w: bash not found", errStreamsUnavailable)
	}
	cmd := exec.CommandContext(ctx, "bash", streamsScript(), "build")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 3 {
		return 0, fmt.Errorf("%w: %s", errStreamsUnavailable, strings.TrimSpace(lastLines(out.String(), 5)))
	}
	if err != nil {
		return 0, fmt.Errorf("e2e/streams/streams.sh build: %v\n%s", err, lastLines(out.String(), 40))
	}
	return time.Since(began), nil
}

// streamsCaseJSON is an event set as StreamsReference.java reads it.
type streamsCaseJSON struct {
	Name   string         `json:"name"`
	Window map[string]any `json:"window"`
	Stores string         `json:"stores"`
	Events [][3]any       `json:"events"`
}

// ksRun is one event set to run through Kafka Streams with one kind of
// store: "rocksdb" (the DSL's RocksDB stores with their flush deferred),
// "rocksdb-default" (untouched) or "memory".
type ksRun struct {
	Name   string
	Set    *sdSet
	Stores string
}

// streamsJVMTime is how long the last runStreamsReference's JVM ran (its
// output read as it came).
var streamsJVMTime time.Duration

// runStreamsReference runs every event set through Kafka Streams in one
// JVM. Its answers are per run name, then per mode (final, changelog); the
// late events are the same for both modes.
func runStreamsReference(ctx context.Context, runs []ksRun) (map[string]map[string]*sdOutput, error) {
	in := struct {
		Cases []streamsCaseJSON `json:"cases"`
	}{}
	for _, r := range runs {
		win := r.Set.Window
		w := map[string]any{"type": win.Type, "grace": win.Grace}
		switch win.Type {
		case "tumbling", "sliding":
			w["size"] = win.Size
		case "hopping":
			w["size"], w["advance"] = win.Size, win.Advance
		case "session":
			w["gap"] = win.Gap
		}
		sc := streamsCaseJSON{Name: r.Name, Window: w, Stores: r.Stores}
		for _, e := range r.Set.Events {
			sc.Events = append(sc.Events, [3]any{e.Key, e.Value, e.TS})
		}
		in.Cases = append(in.Cases, sc)
	}
	input, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	if p := os.Getenv("STREAMS_DIFF_DUMP"); p != "" {
		if err := os.WriteFile(p, input, 0o644); err != nil {
			return nil, err
		}
	}
	cmd := exec.CommandContext(ctx, "bash", streamsScript(), "run")
	cmd.Stdin = bytes.NewReader(input)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	// Read while it runs: parsing overlaps the JVM's work. On a bad line,
	// stop the JVM rather than wait for it.
	fail := func(err error) (map[string]map[string]*sdOutput, error) {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, err
	}

	outs := map[string]map[string]*sdOutput{}
	var errs []string
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Case, Type, Op, Mode, Key, Message string
			Start, End, TS                     int64
			Value                              *int64
			After, I                           int
			Dropped, Updates                   int64
			MS, CPUMs, Events, Results         int64
		}
		d := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		d.DisallowUnknownFields()
		if err := d.Decode(&line); err != nil {
			return fail(fmt.Errorf("a line of the Kafka Streams reference: %v: %s", err, sc.Bytes()))
		}
		o := outs[line.Case]
		if o == nil {
			late, partly := map[int]bool{}, map[int]bool{}
			o = map[string]*sdOutput{}
			for _, mode := range []string{"final", "changelog"} {
				o[mode] = &sdOutput{Results: map[string][]sdResult{}, Late: late, Partly: partly}
			}
			outs[line.Case] = o
		}
		switch line.Type {
		case "result":
			m := o[line.Mode]
			if m == nil || !slices.Contains(sdOps, line.Op) {
				return fail(fmt.Errorf("a result of the Kafka Streams reference for mode %q and op %q: %s", line.Mode, line.Op, sc.Bytes()))
			}
			m.Results[line.Op] = append(m.Results[line.Op], sdResult{line.Key, line.Start, line.End, line.Value, line.After})
		case "event":
			// The sum's aggregator is ours and counts its calls: an event
			// that updated no window and grew dropped-records-total was
			// dropped; one that updated some and grew it was dropped from
			// other windows (or by a store).
			switch {
			case line.Updates == 0 && line.Dropped > 0:
				o["final"].Late[line.I] = true
			case line.Updates == 0:
				errs = append(errs, fmt.Sprintf("%s: event %d updated no window and was not counted as dropped", line.Case, line.I))
			default:
				o["final"].Partly[line.I] = true
			}
		case "done":
			o["final"].Elapsed = time.Duration(line.MS) * time.Millisecond
			o["final"].CPU = time.Duration(line.CPUMs) * time.Millisecond
		case "error":
			errs = append(errs, fmt.Sprintf("%s: %s", line.Case, line.Message))
		default:
			return fail(fmt.Errorf("a line of the Kafka Streams reference of type %q: %s", line.Type, sc.Bytes()))
		}
	}
	if err := sc.Err(); err != nil {
		return fail(fmt.Errorf("reading the Kafka Streams reference: %w", err))
	}
	runErr := cmd.Wait()
	jvm := time.Since(began)
	if runErr != nil || len(errs) > 0 {
		return nil, fmt.Errorf("the Kafka Streams reference failed: %v\n%s\nstderr:\n%s", runErr, strings.Join(errs, "\n"), lastLines(stderr.String(), 40))
	}
	streamsJVMTime = jvm
	for _, r := range runs {
		if outs[r.Name] == nil {
			return nil, fmt.Errorf("the Kafka Streams reference wrote nothing for %s\nstderr:\n%s", r.Name, lastLines(stderr.String(), 40))
		}
	}
	return outs, nil
}

// pipelineConfig is the aggregate under test: count and sum per key and
// window, late records to the dead-letter file.
func pipelineConfig(c *sdCase, in, out, dead, state string) string {
	w := c.Set.Window
	var win string
	switch w.Type {
	case "tumbling", "sliding":
		win = fmt.Sprintf("{ type: %s, size: %dms, grace: %dms }", w.Type, w.Size, w.Grace)
	case "hopping":
		win = fmt.Sprintf("{ type: hopping, size: %dms, advance: %dms, grace: %dms }", w.Size, w.Advance, w.Grace)
	case "session":
		win = fmt.Sprintf("{ type: session, gap: %dms, grace: %dms }", w.Gap, w.Grace)
	}
	emit := "on_update"
	if c.Mode == "final" {
		emit = "on_close"
	}
	return fmt.Sprintf(`# yaml-language-server: $schema=../schema/pipeline.schema.json
name: streams-diff
input:
  file: { paths: [%q], codec: json_lines }
pipeline:
  processors:
    - aggregate:
        key: value.k
        timestamp: value.t
        ops: { count: count(), sum: sum(value.v) }
        window: %s
        emit: %s
        late: dead_letter
output:
  file: { path: %q, codec: envelope }
on_error: dead_letter
dead_letter:
  file: { path: %q, codec: envelope }
state: { dir: %q }
http: { enabled: false }
`, in, win, emit, out, dead, state)
}

// runPipelineCase runs the built binary on one case in dir.
func runPipelineCase(ctx context.Context, c *sdCase, dir string) (*sdOutput, error) {
	began := time.Now()
	var input bytes.Buffer
	for i, e := range c.Set.Events {
		k, _ := json.Marshal(e.Key)
		fmt.Fprintf(&input, `{"i":%d,"k":%s,"v":%d,"t":%d}`+"\n", i, k, e.Value, e.TS)
	}
	in, out, dead := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "dead.jsonl")
	cfg := filepath.Join(dir, "pipeline.yaml")
	if err := os.WriteFile(in, input.Bytes(), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(cfg, []byte(pipelineConfig(c, in, out, dead, filepath.Join(dir, "state"))), 0o644); err != nil {
		return nil, err
	}
	if err := runConfigIn(ctx, cfg, dir); err != nil {
		return nil, err
	}
	o := newSDOutput()
	o.Elapsed = time.Since(began)
	err := forEachJSONLine(out, func(line []byte) error {
		// A result, or a tombstone (op d) withdrawing the result in before.
		var envelope struct {
			Value, Before json.RawMessage
			Op            string
		}
		if err := json.Unmarshal(line, &envelope); err != nil {
			return err
		}
		result, tombstone := envelope.Value, string(envelope.Value) == "null" || envelope.Value == nil
		if tombstone {
			if envelope.Op != "d" {
				return fmt.Errorf("a tombstone without op d")
			}
			result = envelope.Before
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(result, &raw); err != nil {
			return err
		}
		var key string
		var start, end, count, sum int64
		if len(raw) != 5 {
			return fmt.Errorf("not a result of key, window_start, window_end, count and sum")
		}
		for name, into := range map[string]any{"key": &key, "window_start": &start, "window_end": &end, "count": &count, "sum": &sum} {
			v, ok := raw[name]
			if !ok {
				return fmt.Errorf("no %s", name)
			}
			if err := json.Unmarshal(v, into); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		countOf, sumOf := &count, &sum
		if tombstone {
			countOf, sumOf = nil, nil
		}
		o.Results["count"] = append(o.Results["count"], sdResult{key, start, end, countOf, -1})
		o.Results["sum"] = append(o.Results["sum"], sdResult{key, start, end, sumOf, -1})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("the pipeline's output %s: %w", out, err)
	}
	err = forEachJSONLine(dead, func(line []byte) error {
		// The envelope holds the record's value as it was read: JSON text.
		var d struct {
			Value   string
			Headers map[string]string
		}
		if err := json.Unmarshal(line, &d); err != nil {
			return err
		}
		var ev struct{ I *int }
		if err := json.Unmarshal([]byte(d.Value), &ev); err != nil {
			return err
		}
		if ev.I == nil || !strings.HasPrefix(d.Headers["error"], "late record") {
			return fmt.Errorf("a dead letter that is not a late event")
		}
		o.Late[*ev.I] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("the pipeline's dead letters %s: %w", dead, err)
	}
	return o, nil
}

// runConfigIn runs the built binary on a config in dir, to its end.
func runConfigIn(ctx context.Context, cfg, dir string) error {
	cmd := exec.CommandContext(ctx, pipelineBin, "run", "-c", cfg)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("the pipeline: %v\n%s", err, lastLines(stderr.String(), 20))
	}
	return nil
}

// forEachJSONLine calls fn for every line of a file that may not exist
// (an output nothing was written to).
func forEachJSONLine(path string, fn func([]byte) error) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for n, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if err := fn(line); err != nil {
			return fmt.Errorf("line %d: %w: %s", n+1, err, line)
		}
	}
	return nil
}

// slidingByDefinition computes sliding windows from their definition, the
// one Kafka Streams' SlidingWindows documents: a window is [t-d, t] for
// every record at t (its left window) and [t+1, t+1+d] for every record at t
// with a later record within d+1 (its right window), both ends inclusive,
// holding every record of its key inside it. Stream time is the highest
// event time seen so far; a window is open while stream time is at most its
// end plus grace, and only open windows take records. A record is late when
// no open window holds it on its arrival (the pipeline's rule; Kafka
// Streams judges by t+d alone): it is then counted late and takes no part
// in the windows later records make.
//
// On each record's arrival, every open window that holds it, and its own
// right window when it has one, is emitted with its value (changelog): the
// record defines its right window even when another record at the same time
// made it already, so an unchanged value may be emitted again (that much of
// the changelog's shape is the pipeline's choice, not the definition's).
// Once stream time closes a window, its last value is its final result.
// A window's value folds every record inside it that was not late. Records are kept per key in time order, and windows found
// by binary search, so this stays quick for the stress sizes; it shares no
// code with the aggregate.
func slidingByDefinition(events []sdEvent, d, grace int64, final bool) *sdOutput {
	o := newSDOutput()
	type rec struct{ ts, v int64 }
	byKey := map[string][]rec{}
	type win struct {
		key        string
		start, end int64
	}
	last := map[win][2]int64{}
	var order []win
	st := int64(-1 << 63)
	for i, e := range events {
		st = max(st, e.TS)
		t := e.TS
		if t+d+grace < st {
			o.Late[i] = true
			continue
		}
		rs := byKey[e.Key]
		at, _ := slices.BinarySearchFunc(rs, t, func(r rec, t int64) int {
			if r.ts <= t { // after every record at t: arrival order
				return -1
			}
			return 1
		})
		rs = slices.Insert(rs, at, rec{t, e.Value})
		byKey[e.Key] = rs
		// The records at times in [from, to].
		between := func(from, to int64) []rec {
			lo, _ := slices.BinarySearchFunc(rs, from, func(r rec, t int64) int {
				if r.ts < t {
					return -1
				}
				return 1
			})
			hi, _ := slices.BinarySearchFunc(rs, to, func(r rec, t int64) int {
				if r.ts <= t {
					return -1
				}
				return 1
			})
			return rs[lo:hi]
		}
		var wins []win
		seen := map[int64]bool{}
		add := func(start int64) {
			if !seen[start] {
				seen[start] = true
				wins = append(wins, win{e.Key, start, start + d})
			}
		}
		for _, r := range between(t, t+d) { // left windows holding t
			add(r.ts - d)
		}
		for _, r := range between(t-1-d, t-1) { // right windows holding t
			add(r.ts + 1)
		}
		if len(between(t+1, t+1+d)) > 0 { // its own right window
			add(t + 1)
		}
		open := wins[:0:0]
		holds := false
		for _, w := range wins {
			if st <= w.end+grace {
				open = append(open, w)
				holds = holds || (w.start <= t && t <= w.end)
			}
		}
		if !holds {
			// Every window holding it has closed: late, and no part of
			// windows made later.
			byKey[e.Key] = slices.Delete(rs, at, at+1)
			o.Late[i] = true
			continue
		}
		for _, w := range open {
			var count, sum int64
			for _, r := range between(w.start, w.end) {
				count++
				sum += r.v
			}
			if _, ok := last[w]; !ok {
				order = append(order, w)
			}
			last[w] = [2]int64{count, sum}
			if !final {
				o.Results["count"] = append(o.Results["count"], sdResult{w.key, w.start, w.end, &count, i})
				o.Results["sum"] = append(o.Results["sum"], sdResult{w.key, w.start, w.end, &sum, i})
			}
		}
	}
	if final {
		for _, w := range order {
			if st <= w.end+grace {
				continue // still open: not emitted yet
			}
			v := last[w]
			o.Results["count"] = append(o.Results["count"], sdResult{w.key, w.start, w.end, &v[0], -1})
			o.Results["sum"] = append(o.Results["sum"], sdResult{w.key, w.start, w.end, &v[1], -1})
		}
	}
	return o
}
