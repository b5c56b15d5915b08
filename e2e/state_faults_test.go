package e2e

// Faults of the state directory (README "Stateful processing"): a corrupt
// store and a full disk under state.dir. Either stops the pipeline with an error
// that names the directory, and nothing wrong is ever printed or committed:
// no exit 0 with wrong counts, no Go panic, no crash on a memory fault.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// crashSigns are what a Go process that crashed prints.
var crashSigns = []string{"panic:", "fatal error:", "goroutine ", "SIGBUS", "SIGSEGV"}

func requireNoCrash(t *testing.T, what, stderr string) {
	t.Helper()
	for _, sign := range crashSigns {
		if strings.Contains(stderr, sign) {
			t.Fatalf("%s crashed (%q in its output):\n%s", what, sign, lastLines(stderr, 40))
		}
	}
}

// TestWordcountOnCorruptStateNeverPrintsWrongCounts runs the word count over
// a file, appends to the file, and runs it again on copies of the state
// whose largest table has three bytes flipped, at different offsets each
// try. The second run reads the committed counts (it adds the appended
// lines to them), so each try either prints exactly the right counts or
// refuses with an error naming the corrupt directory and saying what to do.
func TestWordcountOnCorruptStateNeverPrintsWrongCounts(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "text.txt")
	writeText(t, text, 60_000)
	config := filepath.Join(repoRoot, "pipelines", "wordcount.yaml")
	good := filepath.Join(dir, "good")
	if _, stderr, code := runPipeline(t, nil, "run", "-c", config, "-s", "input.file.paths.0="+text, "-s", "state.dir="+good); code != 0 {
		t.Fatalf("first run: exit %d\n%s", code, stderr)
	}
	appendFile(t, text, readFile(t, text)) // the same lines again: every count doubles
	want := independentCount(t, text)

	refused := 0
	const tries = 12
	for try := range tries {
		state := filepath.Join(dir, fmt.Sprintf("try%02d", try))
		copyDir(t, good, state)
		table, offsets := flipBytes(t, state, try)
		stdout, stderr, code := runPipeline(t, nil, "run", "-c", config, "-s", "input.file.paths.0="+text, "-s", "state.dir="+state)
		what := fmt.Sprintf("try %d (%s, bytes %v flipped)", try, filepath.Base(table), offsets)
		requireNoCrash(t, what, stderr)
		if code == 0 {
			got := parseCounts(t, stdout)
			sameCounts(t, got, want)
			if t.Failed() {
				t.Fatalf("%s: exit 0 with wrong counts", what)
			}
			continue
		}
		refused++
		wantErr := "state in " + state + " is corrupt ("
		advice := "it has no changelog to restore from: remove " + state + " to reprocess the input from the start, or restore it from a backup"
		if !strings.Contains(stderr, wantErr) || !strings.Contains(stderr, advice) {
			t.Fatalf("%s: exit %d without saying the state is corrupt (want %q … %q):\n%s", what, code, wantErr, advice, lastLines(stderr, 20))
		}
		if stdout != "" {
			t.Fatalf("%s: refused, yet printed:\n%s", what, lastLines(stdout, 10))
		}
	}
	t.Logf("of %d corrupted copies, %d were refused with the corrupt-state error and %d printed the right counts", tries, refused, tries-refused)
	if refused == 0 {
		t.Fatal("no corruption was noticed: the flipped bytes were never read, and the test tested nothing")
	}
}

// flipBytes flips three bytes of the largest table of a state directory: at
// its start, its end (the footer and index) or at random, by try.
func flipBytes(t *testing.T, state string, try int) (string, []int64) {
	t.Helper()
	table := largestFile(t, state, ".sst")
	data := readFile(t, table)
	size := int64(len(data))
	rng := rand.New(rand.NewPCG(uint64(try), 3))
	var offsets []int64
	for i := range int64(3) {
		switch try {
		case 0:
			offsets = append(offsets, i) // the first block's first entry
		case 1:
			offsets = append(offsets, size-1-i) // the footer: checksum length
		case 2:
			offsets = append(offsets, size-40-7*i) // the index and its checksum
		default:
			offsets = append(offsets, rng.Int64N(size))
		}
	}
	for _, off := range offsets {
		data[off] ^= byte(1 + rng.IntN(255))
	}
	writeFile(t, table, data)
	return table, offsets
}

func largestFile(t *testing.T, dir, suffix string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var best string
	var bestSize int64 = -1
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !strings.HasSuffix(e.Name(), suffix) {
			continue
		}
		if info.Size() > bestSize {
			best, bestSize = filepath.Join(dir, e.Name()), info.Size()
		}
	}
	if best == "" {
		t.Fatalf("no *%s file in %s", suffix, dir)
	}
	return best
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		src, err := os.Open(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		dst, err := os.Create(filepath.Join(to, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(dst, src)
		src.Close()
		if cerr := dst.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func appendFile(t *testing.T, path string, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// cannotMount skips a test that mounts a file system where that is not
// allowed (not root, or a container without the right), and fails it under
// CI=true, which runs the tests as root.
func cannotMount(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("this test mounts a tmpfs (CI=true): %s", why)
	}
	t.Skipf("this test mounts a tmpfs: %s", why)
}

// mountTmpfs mounts a tmpfs of size (as mount takes it: 160m) on a new
// directory, unmounted when the test ends.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		cannotMount(t, "run it as root")
	}
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		cannotMount(t, fmt.Sprintf("mount -t tmpfs: %v: %s", err, out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

func resizeTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,size="+size, dir).CombinedOutput(); err != nil {
		t.Fatalf("mount -o remount: %v: %s", err, out)
	}
}

// TestFullStateDiskStopsAndResumes keeps 200 MB of state (50000 keys of
// 4 KB each) in a state.dir on a tmpfs of 224 MiB, which fills: the run
// stops with an error that names the directory and the space it lacks,
// instead of dying of a SIGBUS in Badger's memory-mapped writes, and
// commits nothing more. With room again, the next run goes on from the
// last commit: every key is counted exactly once.
func TestFullStateDiskStopsAndResumes(t *testing.T) {
	const keys = 50_000
	// Room for a first commit of what an idle machine reads in a commit
	// interval (tens of MiB) beside the headroom Badger needs (about 140
	// MiB), so that the fill comes after some commits: with 160 MiB the
	// first commit alone could not fit.
	state := mountTmpfs(t, "224m")
	config := writeConfig(t, fmt.Sprintf(`
name: full-disk
input:
  generate: { value: '{"id": meta.offset, "pad": repeat("x", 4000)}', count: %d }
pipeline:
  processors:
    - aggregate: { key: 'value.id', key_field: id, ops: { n: 'count()', pad: 'first(value.pad)' }, emit: at_end }
    - map: { value: '{"id": value.id, "n": value.n}' }
output:
  stdout: { codec: json_lines }
state: { dir: %q, cache_size: 4MiB }
commit_interval: 50ms
http: { enabled: false }
`, keys, state))

	stdout, stderr, code := runPipeline(t, nil, "run", "-c", config)
	requireNoCrash(t, "the run on a full disk", stderr)
	noSpace := regexp.MustCompile(`error: no space left for state in ` + regexp.QuoteMeta(state) + `: (\d+) MiB free, at least (\d+) MiB needed\n`)
	m := noSpace.FindStringSubmatch(stderr)
	if code == 0 || m == nil {
		t.Fatalf("the run on a full disk: exit %d; want a failure saying %q:\n%s", code, noSpace, lastLines(stderr, 20))
	}
	if free, _ := strconv.Atoi(m[1]); free >= 224 {
		t.Fatalf("%s MiB free reported on a 224 MiB disk", m[1])
	}
	if stdout != "" {
		t.Fatalf("the run that failed printed results:\n%s", lastLines(stdout, 5))
	}

	resizeTmpfs(t, state, "1g")
	firstLog := stderr
	stdout, stderr, code = runPipeline(t, nil, "run", "-c", config)
	requireNoCrash(t, "the run with room again", stderr)
	if code != 0 {
		t.Fatalf("the run with room again: exit %d\n%s", code, lastLines(stderr, 20))
	}
	resumed := regexp.MustCompile(`msg="resuming from committed positions".*\{\\"next\\":(\d+)\}`).FindStringSubmatch(stderr)
	if resumed == nil {
		t.Fatalf("the run with room again did not resume from the positions committed before the disk filled:\n%s\nthe run on the full disk:\n%s", lastLines(stderr, 20), lastLines(firstLog, 20))
	}
	counted := map[int]int{}
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var r struct{ ID, N int }
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("not a result: %q", line)
		}
		counted[r.ID] += r.N
	}
	for id := range keys {
		if counted[id] != 1 {
			t.Fatalf("key %d counted %d times, want once (nothing lost, nothing committed twice)", id, counted[id])
		}
	}
	if len(counted) != keys {
		t.Fatalf("%d keys, want %d", len(counted), keys)
	}
	t.Logf("the disk filled: %q; the run with room again resumed at record %s and counted every key once", strings.TrimSpace(m[0]), resumed[1])
}
