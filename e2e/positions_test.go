package e2e

// Positions for every input, stateless pipelines too (README "Positions and
// restarts"): the file input's {"offset","head","head_bytes"} and the
// generator's {"next"} are kept in state.dir and committed only after the
// outputs wrote. A graceful stop (SIGTERM) loses and repeats nothing; a
// SIGKILL repeats at most what came after the last commit; a file replaced
// under its path is read from its first line.
//
// The inputs are numbered lines of one width, and the map keeps their width
// (upper), so that a byte of output stands for a byte of input: every run's
// output can be matched, byte for byte, against the input range from the
// position it resumed at.

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// stressed is normal, or stress when the STRESS environment variable is set
// (make stress): more kills, stops or records for the fault tests.
func stressed(normal, stress int) int {
	if os.Getenv("STRESS") != "" {
		return stress
	}
	return normal
}

// posLineLen is the length of one numberedLines line with its newline.
const posLineLen = 12

// numberedLines is lines prefix+%06d for i in [from, to), each posLineLen
// bytes with its newline (prefix has 5 bytes).
func numberedLines(prefix string, from, to int) []byte {
	var b bytes.Buffer
	b.Grow((to - from) * posLineLen)
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "%s%06d\n", prefix, i)
	}
	return b.Bytes()
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return data
}

// fileMapFileConfig is file (lines) → map (upper) → file, committing every
// 50 ms.
func fileMapFileConfig(in, out, stateDir string, batchSize int) string {
	return fmt.Sprintf(`
name: positions
input:
  file: { paths: [%q], batch_size: %d }
pipeline:
  processors:
    - map: { value: 'upper(value)' }
output:
  file: { path: %q }
state: { dir: %q }
commit_interval: 50ms
http: { enabled: false }
`, in, batchSize, out, stateDir)
}

var (
	resumedFileLog     = regexp.MustCompile(`msg="resuming from committed positions" input=input positions=".*? \{\\"offset\\":(\d+),\\"head\\":\\"[0-9a-f]+\\",\\"head_bytes\\":(\d+)\}"`)
	resumedGenerateLog = regexp.MustCompile(`msg="resuming from committed positions" input=input positions="generate \{\\"next\\":(\d+)\}"`)
	stoppedLog         = regexp.MustCompile(`msg="pipeline stopped" read=(\d+) written=(\d+)`)
	fileChangedLog     = regexp.MustCompile(`level=WARN msg="the file changed since its position was committed: reading it from the start" .*path=(\S+) reason="([^"]*)" committed_offset=(\d+)`)
)

// resumedAt is the position a run logged it resumed from (its first
// submatch), or -1 when it logged none.
func resumedAt(t *testing.T, re *regexp.Regexp, stderr string) int64 {
	t.Helper()
	ms := re.FindAllStringSubmatch(stderr, -1)
	switch len(ms) {
	case 0:
		return -1
	case 1:
		n, err := strconv.ParseInt(ms[0][1], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	t.Fatalf("the run logged %d resumes, want one:\n%s", len(ms), lastLines(stderr, 20))
	return 0
}

// stopSummary is the read and written counts of the "pipeline stopped" line.
func stopSummary(t *testing.T, stderr string) (read, written int64) {
	t.Helper()
	m := stoppedLog.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no stop summary in the log:\n%s", lastLines(stderr, 20))
	}
	read, _ = strconv.ParseInt(m[1], 10, 64)
	written, _ = strconv.ParseInt(m[2], 10, 64)
	return read, written
}

// awaitExit waits until a pipeline that reaches the end of its input exits,
// and requires exit 0.
func (p *bgPipeline) awaitExit(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("the pipeline did not reach the end of its input in %v:\n%s", timeout, lastLines(p.stderr(), 30))
	}
	if p.err != nil {
		t.Fatalf("the pipeline failed: %v\n%s", p.err, lastLines(p.stderr(), 30))
	}
}

// sizeSample is the size of an output file at a moment of a run.
type sizeSample struct {
	at   time.Time
	size int64
}

// awaitSize polls path every 2 ms until it holds at least n bytes, and
// returns the samples taken (the last one at or past n).
func awaitSize(t *testing.T, p *bgPipeline, path string, n int64) []sizeSample {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var samples []sizeSample
	for {
		var size int64
		if st, err := os.Stat(path); err == nil {
			size = st.Size()
		}
		samples = append(samples, sizeSample{time.Now(), size})
		if size >= n {
			return samples
		}
		if p.exited() {
			if p.err != nil {
				t.Fatalf("the pipeline failed (%v) with %d bytes of %d written:\n%s", p.err, size, n, lastLines(p.stderr(), 20))
			}
			t.Fatalf("the pipeline reached the end of its input with %d bytes of %d written, before the fault: the input is too small for this machine:\n%s",
				size, n, lastLines(p.stderr(), 20))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %d bytes after 60s, want %d:\n%s", filepath.Base(path), size, n, lastLines(p.stderr(), 20))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

var tornCutLog = regexp.MustCompile(`level=WARN msg="the file output ended in a torn record, left by a crash during a write: cut; the record is written again whole" .*bytes_cut=(\d+)`)

// requireTornCut wants a run's log to say it cut torn bytes at the end of
// the output file, when the run before left them, and not to otherwise.
func requireTornCut(t *testing.T, what string, torn int64, log string) {
	t.Helper()
	m := tornCutLog.FindStringSubmatch(log)
	switch {
	case torn == 0 && m != nil:
		t.Fatalf("%s cut %s bytes of a torn record, but the output ended in a whole line:\n%s", what, m[1], lastLines(log, 20))
	case torn > 0 && (m == nil || m[1] != strconv.FormatInt(torn, 10)):
		t.Fatalf("%s did not log that it cut the %d bytes of a torn record at the end of the output:\n%s", what, torn, lastLines(log, 20))
	}
}

// sampleUntil samples the size of path every 2 ms until the time given or
// until the pipeline exits.
func sampleUntil(p *bgPipeline, path string, until time.Time) []sizeSample {
	var samples []sizeSample
	for !p.exited() {
		now := time.Now()
		if !now.Before(until) {
			break
		}
		if st, err := os.Stat(path); err == nil {
			samples = append(samples, sizeSample{now, st.Size()})
		}
		time.Sleep(min(2*time.Millisecond, until.Sub(now)))
	}
	return samples
}

// firstDiff describes where got and want first differ, for failures.
func firstDiff(got, want []byte) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	line := bytes.Count(got[:i], []byte("\n")) + 1
	snip := func(b []byte) string {
		start := bytes.LastIndexByte(b[:min(i, len(b))], '\n') + 1
		return string(b[start:min(len(b), start+3*posLineLen)])
	}
	return fmt.Sprintf("got %d bytes, want %d; they differ first at byte %d (output line %d): got %q, want %q",
		len(got), len(want), i, line, snip(got), snip(want))
}

// TestStatelessFileResumesAfterSIGTERM stops a stateless file → map → file
// pipeline with SIGTERM part way through its file three times (20 under
// STRESS), then lets it run to the end on the same state.dir: the output is
// every line exactly once, in order. Each stop is checked to have come
// mid-file, to have written an exact prefix of the result (nothing read was
// lost in the drain), and each restart to have resumed exactly where the
// stopped run's output ended.
func TestStatelessFileResumesAfterSIGTERM(t *testing.T) {
	t.Parallel()
	const n = 300_000
	stops := stressed(3, 20)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
	input := numberedLines("line-", 0, n)
	writeFile(t, in, input)
	want := bytes.ToUpper(input)
	// One record a batch keeps the run a few seconds long, so that stops
	// land mid-file on a fast machine too.
	cfg := writeConfig(t, fileMapFileConfig(in, out, filepath.Join(dir, "state"), 1))
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))

	var written int64 // output bytes so far, which are the input bytes committed
	var report []string
	for stop := 1; stop <= stops; stop++ {
		p := startPipeline(t, cfg)
		// Stop once it has written another 1-4% of the file.
		grow := int64(len(want)) * int64(1+rng.IntN(4)) / 100 / int64(stops) * 3
		awaitSize(t, p, out, written+max(grow, 10*posLineLen))
		p.stop(t)
		if at := resumedAt(t, resumedFileLog, p.stderr()); stop > 1 && at != written {
			t.Fatalf("run %d resumed at byte %d, want %d (where the output of the runs before it ended):\n%s", stop, at, written, lastLines(p.stderr(), 20))
		} else if stop == 1 && at != -1 {
			t.Fatalf("the first run resumed at byte %d of a new state.dir", at)
		}
		got := readFile(t, out)
		size := int64(len(got))
		if size >= int64(len(want)) {
			t.Fatalf("stop %d: the run wrote all %d bytes before SIGTERM stopped it: the input is too small for this machine", stop, size)
		}
		if !bytes.Equal(got, want[:size]) || size%posLineLen != 0 {
			t.Fatalf("after SIGTERM %d the output is not an exact prefix of the result: %s\n%s", stop, firstDiff(got, want[:size]), lastLines(p.stderr(), 20))
		}
		read, wrote := stopSummary(t, p.stderr())
		if read != wrote || wrote*posLineLen != size-written {
			t.Fatalf("stop %d: the log says read=%d written=%d; the output grew by %d lines", stop, read, wrote, (size-written)/posLineLen)
		}
		report = append(report, fmt.Sprintf("stop %d at line %d", stop, size/posLineLen))
		written = size
	}

	last := startPipeline(t, cfg)
	last.awaitExit(t, 2*time.Minute)
	if at := resumedAt(t, resumedFileLog, last.stderr()); at != written {
		t.Fatalf("the last run resumed at byte %d, want %d:\n%s", at, written, lastLines(last.stderr(), 20))
	}
	if got := readFile(t, out); !bytes.Equal(got, want) {
		t.Fatalf("after %d SIGTERMs and a run to the end the output is not every line once, in order: %s", stops, firstDiff(got, want))
	}
	t.Logf("%d SIGTERMs (%s), then a run to the end from byte %d: the output is all %d lines exactly once, in order",
		stops, strings.Join(report, ", "), written, n)
}

// fileRun is one run of a pipeline killed in TestStatelessFileSIGKILL.
type fileRun struct {
	resumed int64 // input byte it resumed at (0 for none)
	// A restart that logged no resume: nothing had been committed before
	// the kill (a machine starved of CPU may kill a run before its first
	// commit), so it starts over from byte 0.
	startedOver       bool
	start, end        int64 // its output, as a range of the output file
	started, killedAt time.Time
	samples           []sizeSample
	log               string
	torn              int64 // bytes of a line after its last whole one, cut by the restart
}

// TestStatelessFileSIGKILLAtLeastOnce kills a stateless file → map → file
// pipeline (600k lines) with SIGKILL five times (20 under STRESS, of 1M
// lines) at random moments, restarting it each time on the same
// state.dir, then lets it run to the end. Every run's output is checked
// byte for byte to be the input from the position it resumed at, so:
// nothing is lost (each restart resumes at or before the end of what the
// killed run wrote, never past it) and lines repeat only from the last
// uncommitted interval: each kill repeats at most five commit intervals'
// worth of the killed run's output (or, on a machine so busy that the run
// stalled, its committed position is at most 1 s old). Every restart is
// checked to have resumed mid-file, and to have cut (and logged) the part
// of a line a kill during a write left, if any.
func TestStatelessFileSIGKILLAtLeastOnce(t *testing.T) {
	t.Parallel()
	n := stressed(600_000, 999_999)
	const commitInterval = 50 * time.Millisecond
	// The most lines a kill may repeat, in commit intervals' worth of the
	// killed run's output: a commit every 50 ms, slack for a busy machine.
	// A run starved of CPU in bursts (make stress keeps both cores busy)
	// writes fast between stalls and commits late; then the committed
	// position must be at most maxStall old at the kill.
	const maxIntervals = 5
	const maxStall = time.Second
	kills := stressed(5, 20)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
	input := numberedLines("line-", 0, n)
	writeFile(t, in, input)
	want := bytes.ToUpper(input)
	cfg := writeConfig(t, fileMapFileConfig(in, out, filepath.Join(dir, "state"), 1))
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 4))

	var runs []fileRun
	var size int64
	for kill := 0; kill <= kills; kill++ {
		started := time.Now()
		p := startPipeline(t, cfg)
		run := fileRun{start: size, started: started}
		if kill < kills {
			// Kill once it has written another 1-3% of the file and run
			// for four commit intervals (so it has committed), 0-20 ms
			// later; the output is sampled until the kill.
			grow := int64(len(want)) * int64(1+rng.IntN(3)) / 100 * 5 / int64(kills)
			run.samples = awaitSize(t, p, out, size+max(grow, 10*posLineLen))
			killAt := started.Add(4 * commitInterval)
			if now := time.Now(); killAt.Before(now) {
				killAt = now
			}
			run.samples = append(run.samples, sampleUntil(p, out, killAt.Add(time.Duration(rng.IntN(20))*time.Millisecond))...)
			err := p.cmd.Process.Kill()
			run.killedAt = time.Now()
			<-p.done
			if err != nil || p.err == nil {
				t.Fatalf("kill %d: the pipeline had exited by itself (%v) before the kill (%v); the input is too small for this machine?\n%s",
					kill+1, p.err, err, lastLines(p.stderr(), 20))
			}
		} else {
			p.awaitExit(t, 2*time.Minute)
		}
		data := readFile(t, out)
		size = int64(len(data))
		run.log = p.stderr()
		if at := resumedAt(t, resumedFileLog, run.log); kill > 0 {
			run.resumed, run.startedOver = max(at, 0), at == -1
		} else if at != -1 {
			t.Fatalf("the first run resumed at byte %d of a new state.dir", at)
		}
		if i := len(runs) - 1; i >= 0 {
			requireTornCut(t, fmt.Sprintf("the restart after kill %d", i+1), runs[i].torn, run.log)
		}
		// A kill during a write may leave part of a line (the kernel stops
		// a write between pages for SIGKILL); the restart cuts it.
		run.torn = size % posLineLen
		size -= run.torn
		run.end = size
		if torn := data[size:]; !bytes.Equal(torn, want[run.resumed+size-run.start:][:len(torn)]) {
			t.Fatalf("kill %d left %q after its last whole line, not the start of the next", kill+1, torn)
		}
		runs = append(runs, run)
	}

	got := readFile(t, out)
	var repeated int64
	var worst float64
	var report []string
	for i, r := range runs {
		seg := got[r.start:r.end]
		if r.resumed+int64(len(seg)) > int64(len(want)) || !bytes.Equal(seg, want[r.resumed:r.resumed+int64(len(seg))]) {
			t.Fatalf("run %d resumed at byte %d; its output is not the input from there: %s", i+1, r.resumed, firstDiff(seg, want[r.resumed:min(int64(len(want)), r.resumed+int64(len(seg)))]))
		}
		if len(seg)%posLineLen != 0 {
			t.Fatalf("run %d wrote %d bytes, not whole lines", i+1, len(seg))
		}
		if i == len(runs)-1 {
			if r.resumed+int64(len(seg)) != int64(len(want)) {
				t.Fatalf("the last run ended at input byte %d, want the end, %d", r.resumed+int64(len(seg)), len(want))
			}
			break
		}
		next := runs[i+1].resumed
		reached := r.resumed + int64(len(seg))
		// Starting over is right only while nothing was committed yet, and
		// only a short while after the run's first output (maxStall, below).
		if runs[i+1].startedOver && r.resumed > 0 || !runs[i+1].startedOver && next <= 0 || next >= int64(len(want)) {
			t.Fatalf("the restart after kill %d resumed at byte %d (started over: %v, after a run that resumed at %d), not mid-file (0 < offset < %d):\n%s",
				i+1, next, runs[i+1].startedOver, r.resumed, len(want), lastLines(runs[i+1].log, 20))
		}
		if next < r.resumed {
			t.Fatalf("the restart after kill %d resumed at byte %d, before the %d the killed run had resumed at: positions went backwards", i+1, next, r.resumed)
		}
		if next > reached {
			t.Fatalf("the restart after kill %d resumed at byte %d, past the %d its output reached: the lines between are lost", i+1, next, reached)
		}
		// When had the killed run written up to the position it committed?
		need := r.start + (next - r.resumed)
		var writtenAt time.Time
		for _, s := range r.samples {
			if s.size >= need {
				writtenAt = s.at
				break
			}
		}
		if writtenAt.IsZero() {
			// Written between the last sample and the kill.
			writtenAt = r.samples[len(r.samples)-1].at
		}
		lag := r.killedAt.Sub(writtenAt)
		// What the run wrote in a commit interval, on average over its
		// life: a stalled machine writes less, and repeats less.
		perInterval := float64(len(seg)) * float64(commitInterval) / float64(r.killedAt.Sub(r.started)) / posLineLen
		lines := (reached - next) / posLineLen
		if float64(lines) > maxIntervals*perInterval && lag > maxStall {
			t.Fatalf("kill %d: %d lines repeated, more than %d commit intervals' worth (%.0f lines each, on average over the run), and the committed position (byte %d) had been written %v before the kill, more than %v",
				i+1, lines, maxIntervals, perInterval, next, lag.Round(time.Millisecond), maxStall)
		}
		repeated += lines
		worst = max(worst, float64(lines)/perInterval)
		report = append(report, fmt.Sprintf("kill %d at line %d, resumed at %d (%d repeated, %.1f intervals' worth, written %v before the kill)",
			i+1, reached/posLineLen, next/posLineLen, lines, float64(lines)/perInterval, lag.Round(time.Millisecond)))
	}
	if int64(len(got)) != int64(len(want))+repeated*posLineLen {
		t.Fatalf("the output holds %d lines, want the %d of the input and %d repeated", len(got)/posLineLen, n, repeated)
	}
	t.Logf("%d SIGKILLs: every line written, %d repeated (at most %.1f commit intervals' worth at a kill); %s",
		kills, repeated, worst, strings.Join(report, "; "))
}

// awaitLog waits until the pipeline logged msg, and returns its log so far.
func awaitLog(t *testing.T, p *bgPipeline, msg string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := p.stderr()
		if strings.Contains(s, msg) {
			return s
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("the pipeline did not log %q:\n%s", msg, lastLines(s, 20))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestGenerateResumesAfterSIGTERM stops generate (count 2M) → file with
// SIGTERM part way twice (10 under STRESS), then runs it to the end: the
// output is the numbers 0..N-1, each once, in order, and every restart
// resumed at the next number after the last one written.
func TestGenerateResumesAfterSIGTERM(t *testing.T) {
	t.Parallel()
	const n = 2_000_000
	stops := stressed(2, 10)
	dir := t.TempDir()
	out := filepath.Join(dir, "out.txt")
	cfg := writeConfig(t, fmt.Sprintf(`
name: generate-positions
input:
  generate: { value: 'meta.offset', count: %d, batch_size: 64 }
output:
  file: { path: %q }
state: { dir: %q }
commit_interval: 50ms
http: { enabled: false }
`, n, out, filepath.Join(dir, "state")))
	var want bytes.Buffer
	for i := range n {
		want.WriteString(strconv.Itoa(i) + "\n")
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 5))

	var lines int64
	var report []string
	for stop := 1; stop <= stops; stop++ {
		p := startPipeline(t, cfg)
		size := int64(len(readFile(t, out)))
		awaitSize(t, p, out, size+int64(20_000+rng.IntN(100_000)))
		p.stop(t)
		if at := resumedAt(t, resumedGenerateLog, p.stderr()); stop > 1 && at != lines {
			t.Fatalf("run %d resumed at %d, want %d (the count written before):\n%s", stop, at, lines, lastLines(p.stderr(), 20))
		}
		got := readFile(t, out)
		if !bytes.HasPrefix(want.Bytes(), got) || (len(got) > 0 && got[len(got)-1] != '\n') {
			t.Fatalf("after SIGTERM %d the output is not an exact prefix of 0..%d: %s", stop, n-1, firstDiff(got, want.Bytes()[:min(len(got), want.Len())]))
		}
		now := int64(bytes.Count(got, []byte("\n")))
		if now >= n {
			t.Fatalf("stop %d: the run generated all %d numbers before SIGTERM stopped it", stop, n)
		}
		if read, wrote := stopSummary(t, p.stderr()); read != wrote || wrote != now-lines {
			t.Fatalf("stop %d: the log says read=%d written=%d; the output grew by %d lines", stop, read, wrote, now-lines)
		}
		report = append(report, fmt.Sprintf("stop %d after %d", stop, now))
		lines = now
	}
	last := startPipeline(t, cfg)
	last.awaitExit(t, 2*time.Minute)
	if at := resumedAt(t, resumedGenerateLog, last.stderr()); at != lines {
		t.Fatalf("the last run resumed at %d, want %d:\n%s", at, lines, lastLines(last.stderr(), 20))
	}
	if got := readFile(t, out); !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("after %d SIGTERMs and a run to the end the output is not 0..%d once each, in order: %s", stops, n-1, firstDiff(got, want.Bytes()))
	}
	t.Logf("%d SIGTERMs (%s), then a run to the end: the output is 0..%d, each once, in order", stops, strings.Join(report, ", "), n-1)
}

// TestFileChangedUnderPath runs a file pipeline to the end of its file,
// changes the file under the same path, and runs it again on the same
// state.dir. A file shorter than the committed offset, or whose first
// bytes differ (same length, or longer), is another file: the second run
// logs why and writes all of the new file, from its first line. A file
// that only grew (appended) resumes after the old content: only the new
// lines are written, for a file longer and shorter than the fingerprinted
// 1 KiB head.
func TestFileChangedUnderPath(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		before []byte
		// after is the file of the second run, and what it must write
		// (upper-cased).
		after, wantOut []byte
		// reason is the reason logged for reading from the start; "" when
		// the second run must resume.
		reason string
		// replace swaps in a new file (rename) instead of rewriting it in
		// place.
		replace bool
	}{
		{
			name:   "shorter",
			before: numberedLines("old--", 0, 1000), after: numberedLines("new--", 0, 10), wantOut: numberedLines("new--", 0, 10),
			reason: fmt.Sprintf("it has %d bytes, fewer than the %d already read", 10*posLineLen, 1000*posLineLen),
		},
		{
			name:   "same-length-other-head",
			before: numberedLines("old--", 0, 1000), after: numberedLines("new--", 0, 1000), wantOut: numberedLines("new--", 0, 1000),
			reason: "its first 1024 bytes differ from those read before", replace: true,
		},
		{
			name:   "longer-other-head",
			before: numberedLines("old--", 0, 1000), after: numberedLines("new--", 0, 3000), wantOut: numberedLines("new--", 0, 3000),
			reason: "its first 1024 bytes differ from those read before",
		},
		{
			// Only the first line differs, in its last character: the
			// fingerprint sees it.
			name:   "longer-first-line-differs",
			before: numberedLines("old--", 0, 1000), after: append(numberedLines("old--", 1, 2), numberedLines("old--", 1, 2000)...),
			wantOut: append(numberedLines("old--", 1, 2), numberedLines("old--", 1, 2000)...),
			reason:  "its first 1024 bytes differ from those read before", replace: true,
		},
		{
			name:   "appended",
			before: numberedLines("old--", 0, 1000), after: numberedLines("old--", 0, 1500), wantOut: numberedLines("old--", 1000, 1500),
		},
		{
			// The file was shorter than 1 KiB when its position was
			// committed: its fingerprint covers what there was.
			name:   "appended-small",
			before: numberedLines("old--", 0, 40), after: numberedLines("old--", 0, 700), wantOut: numberedLines("old--", 40, 700),
		},
		{
			name:   "small-other-head",
			before: numberedLines("old--", 0, 40), after: numberedLines("new--", 0, 700), wantOut: numberedLines("new--", 0, 700),
			reason: fmt.Sprintf("its first %d bytes differ from those read before", 40*posLineLen),
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			in, state := filepath.Join(dir, "in.txt"), filepath.Join(dir, "state")
			out1, out2 := filepath.Join(dir, "out1.txt"), filepath.Join(dir, "out2.txt")
			cfg := writeConfig(t, fileMapFileConfig(in, out1, state, 64))
			writeFile(t, in, c.before)
			first := startPipeline(t, cfg)
			first.awaitExit(t, time.Minute)
			if got := readFile(t, out1); !bytes.Equal(got, bytes.ToUpper(c.before)) {
				t.Fatalf("the first run's output is not its file: %s", firstDiff(got, bytes.ToUpper(c.before)))
			}

			if c.replace {
				tmp := filepath.Join(dir, "in.txt.new")
				writeFile(t, tmp, c.after)
				if err := os.Rename(tmp, in); err != nil {
					t.Fatal(err)
				}
			} else {
				writeFile(t, in, c.after) // truncated and rewritten in place
			}
			second := startPipelineArgs(t, nil, "run", "-c", cfg, "-s", "output.file.path="+out2)
			second.awaitExit(t, time.Minute)
			logs := second.stderr()
			if at := resumedAt(t, resumedFileLog, logs); at != int64(len(c.before)) {
				t.Fatalf("the second run resumed from byte %d, want the first run's end, %d:\n%s", at, len(c.before), logs)
			}
			changed := fileChangedLog.FindStringSubmatch(logs)
			switch {
			case c.reason == "" && changed != nil:
				t.Fatalf("a file that only grew was taken for another file:\n%s", logs)
			case c.reason != "" && changed == nil:
				t.Fatalf("the second run did not log that the file changed:\n%s", logs)
			case c.reason != "" && (changed[1] != in || changed[2] != c.reason || changed[3] != strconv.Itoa(len(c.before))):
				t.Fatalf("the change is logged as path=%s reason=%q committed_offset=%s, want %s, %q, %d:\n%s",
					changed[1], changed[2], changed[3], in, c.reason, len(c.before), logs)
			}
			if got, want := readFile(t, out2), bytes.ToUpper(c.wantOut); !bytes.Equal(got, want) {
				t.Fatalf("the second run wrote %d lines, want %d (%s): %s\n%s", bytes.Count(got, []byte("\n")), bytes.Count(want, []byte("\n")),
					map[bool]string{true: "the appended lines only", false: "all of the new file, from its first line"}[c.reason == ""], firstDiff(got, want), logs)
			}
			if read, _ := stopSummary(t, logs); read != int64(bytes.Count(c.wantOut, []byte("\n"))) {
				t.Fatalf("the second run read %d records, want %d", read, bytes.Count(c.wantOut, []byte("\n")))
			}
		})
	}
}

// TestFileOutputSIGKILLLeavesNoTornRecord kills a file → map → file
// pipeline with large records (4401 bytes; a batch is one write of 1.1
// MiB) with SIGKILL up to 20 times (until a kill tore a record), then runs
// it to the end: every line
// of the output is a whole record, and every record is there. A SIGKILL
// during a write(2) can leave a part of it in the file (the kernel stops a
// write between pages for a fatal signal); the restart must cut it, and
// say so, rather than append the next record to it.
func TestFileOutputSIGKILLLeavesNoTornRecord(t *testing.T) {
	t.Parallel()
	const n, repeat = 20_000, 400
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
	writeFile(t, in, numberedLines("line-", 0, n))
	cfg := writeConfig(t, fmt.Sprintf(`
name: torn
input:
  file: { paths: [%q], batch_size: 256 }
pipeline:
  processors:
    - map: { value: 'repeat(value, %d)' }
output:
  file: { path: %q }
state: { dir: %q }
commit_interval: 50ms
http: { enabled: false }
`, in, repeat, out, filepath.Join(dir, "state")))
	recordLen := int64(repeat*(posLineLen-1) + 1)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 8))
	torn, cut := -1, int64(0)
	for kill := 1; kill <= 20 && torn < 0; kill++ {
		before := int64(len(readFile(t, out)))
		p := startPipeline(t, cfg)
		sampleUntil(p, out, time.Now().Add(time.Duration(20+rng.IntN(100))*time.Millisecond))
		_ = p.cmd.Process.Kill()
		<-p.done
		if p.err == nil {
			break // it reached the end: the last run below finds it done
		}
		if st, err := os.Stat(out); err != nil || st.Size() == before {
			continue
		}
		if st, err := os.Stat(out); err == nil && st.Size()%recordLen != 0 {
			torn, cut = kill, st.Size()%recordLen
			t.Logf("kill %d left %d bytes of a torn record at the end of the output", kill, cut)
		}
	}
	last := startPipeline(t, cfg)
	last.awaitExit(t, 2*time.Minute)
	requireTornCut(t, "the last run", cut, last.stderr())
	if torn < 0 {
		t.Logf("no kill tore a record this time: only whole records were checked")
	}
	seen := map[string]bool{}
	for i, line := range strings.Split(strings.TrimSuffix(string(readFile(t, out)), "\n"), "\n") {
		if int64(len(line)) != recordLen-1 || line != strings.Repeat(line[:posLineLen-1], repeat) {
			t.Fatalf("output line %d is not a whole record: %d bytes, want %d, starting %q (a kill left a torn record: kill %d)",
				i+1, len(line), recordLen-1, line[:min(len(line), 3*posLineLen)], torn)
		}
		seen[line[:posLineLen-1]] = true
	}
	if len(seen) != n {
		t.Fatalf("the output holds %d distinct records, want %d", len(seen), n)
	}
}
