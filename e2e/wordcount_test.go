package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// independentCount is the word count computed here, without the pipeline:
// lower-case, split on Unicode white space.
func independentCount(t *testing.T, path string) map[string]int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	counts := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		for _, w := range strings.Fields(strings.ToLower(sc.Text())) {
			counts[w]++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return counts
}

// parseCounts reads the wordcount's JSON lines, failing on a repeated word.
func parseCounts(t *testing.T, stdout string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if line == "" {
			continue
		}
		var r struct {
			Word  *string `json:"word"`
			Count int     `json:"count"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil || r.Word == nil {
			t.Fatalf("not a word count line: %q (%v)", line, err)
		}
		if _, dup := counts[*r.Word]; dup {
			t.Fatalf("word %q printed twice", *r.Word)
		}
		counts[*r.Word] = r.Count
	}
	return counts
}

func sameCounts(t *testing.T, got, want map[string]int) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d distinct words, want %d", len(got), len(want))
	}
	bad := 0
	for w, n := range want {
		if got[w] != n && bad < 10 {
			t.Errorf("word %q: count %d, want %d", w, got[w], n)
			bad++
		}
	}
}

func checkWordcountExample(t *testing.T, file string) {
	stdout, stderr, code := runPipeline(t, nil, "run", "-c", file, "-s", "state.dir="+t.TempDir())
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	got := parseCounts(t, stdout)
	sameCounts(t, got, independentCount(t, filepath.Join(repoRoot, "pipelines/data/words.txt")))
	if !strings.Contains(stdout, `{"word":"kafka","count":2}`+"\n") || got["straße"] != 2 {
		t.Errorf("the sample's known counts are missing:\n%s", stdout)
	}
}

func checkTextAnalysisExample(t *testing.T, file string) {
	out := t.TempDir()
	stdout, stderr, code := runPipeline(t, []string{"OUT_DIR=" + out}, "run", "-c", file, "-s", "state.dir="+t.TempDir())
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	suspicious, err := os.ReadFile(filepath.Join(out, "suspicious-words.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	wantSuspicious := `{"reason":"word_too_long","word":"supercalifragilisticexpialidocious"}
{"reason":"suspicious_numeric_pattern","word":"5551234"}
{"reason":"suspicious_numeric_pattern","word":"examplecom12345"}
{"reason":"suspicious_numeric_pattern","word":"1000"}
{"reason":"suspicious_numeric_pattern","word":"99x9999y"}
`
	if string(suspicious) != wantSuspicious {
		t.Errorf("suspicious words:\n%s\nwant:\n%s", suspicious, wantSuspicious)
	}
	counts := parseCounts(t, stdout)
	want := map[string]int{"hello": 2, "world": 2, "42": 1, "isnt": 1, "the": 1}
	for w, n := range want {
		if counts[w] != n {
			t.Errorf("count of %q is %d, want %d", w, counts[w], n)
		}
	}
	for _, w := range []string{"a", "i", "1000", "5551234", "supercalifragilisticexpialidocious"} {
		if _, ok := counts[w]; ok {
			t.Errorf("%q must not be counted (too short or suspicious)", w)
		}
	}
}

// writeText writes a generated text of n lines with a Zipf-like vocabulary
// that includes non-ASCII words.
func writeText(t *testing.T, path string, n int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	rng := rand.New(rand.NewPCG(7, 11))
	zipf := rand.NewZipf(rng, 1.2, 1, 20000)
	extra := []string{"Straße", "ÉCOLE", "naïve", "東京", "Kafka"}
	for i := 0; i < n; i++ {
		words := 3 + rng.IntN(10)
		for j := 0; j < words; j++ {
			if j > 0 {
				w.WriteByte(" \t"[rng.IntN(2)])
			}
			if rng.IntN(20) == 0 {
				w.WriteString(extra[rng.IntN(len(extra))])
			} else {
				fmt.Fprintf(w, "w%d", zipf.Uint64())
			}
		}
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestWordcountSurvivesSIGKILL kills the built binary with SIGKILL several
// times mid-run, restarting it on the same state each time, and checks that
// the final count equals an uninterrupted run's and an independent count:
// no line counted twice, none missed.
func TestWordcountSurvivesSIGKILL(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "text.txt")
	writeText(t, text, 300_000)
	want := independentCount(t, text)
	config := filepath.Join(repoRoot, "pipelines", "wordcount.yaml")

	reference, stderr, code := runPipeline(t, nil, "run", "-c", config, "-s", "input.file.paths.0="+text,
		"-s", "state.dir="+filepath.Join(dir, "reference"))
	if code != 0 {
		t.Fatalf("reference run: exit %d\n%s", code, stderr)
	}
	sameCounts(t, parseCounts(t, reference), want)

	state := filepath.Join(dir, "killed")
	args := []string{"run", "-c", config, "-s", "input.file.paths.0=" + text, "-s", "state.dir=" + state,
		"-s", "commit_interval=20ms", "-s", "input.file.batch_size=256"}
	rng := rand.New(rand.NewPCG(1, 2))
	kills := 0
	var resumedAt []int64 // byte offsets restarts resumed from, as logged
	resumeLog := regexp.MustCompile(`msg="resuming from committed positions".*positions=".* \{\\"offset\\":(\d+),`)
	for attempt := 0; attempt < 40 && kills < 5; attempt++ {
		cmd := exec.Command(pipelineBin, args...)
		cmd.Dir = repoRoot
		var errBuf strings.Builder
		cmd.Stderr = &errBuf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-time.After(time.Duration(100+rng.IntN(400)) * time.Millisecond):
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-done
			kills++
		case err := <-done:
			// It finished before the kill: the state is complete, so later
			// attempts only test restarts at the end.
			if err != nil {
				t.Fatalf("run failed: %v\n%s", err, errBuf.String())
			}
		}
		if m := resumeLog.FindStringSubmatch(errBuf.String()); m != nil {
			offset, _ := strconv.ParseInt(m[1], 10, 64)
			resumedAt = append(resumedAt, offset)
		}
	}
	if kills == 0 {
		t.Fatal("no run was killed mid-way; the input is too small for this machine")
	}
	st, err := os.Stat(text)
	if err != nil {
		t.Fatal(err)
	}
	midway := 0
	for i, off := range resumedAt {
		if i > 0 && off < resumedAt[i-1] {
			t.Fatalf("resumed positions went backwards: %v", resumedAt)
		}
		if off > 0 && off < st.Size() {
			midway++
		}
	}
	if midway < 2 {
		t.Fatalf("only %d restarts resumed from the middle of the file (positions %v of %d bytes): the kills did not test resuming", midway, resumedAt, st.Size())
	}
	final, stderr, code := runPipeline(t, nil, args...)
	if code != 0 {
		t.Fatalf("final run: exit %d\n%s", code, stderr)
	}
	if final != reference {
		got := parseCounts(t, final)
		sameCounts(t, got, want)
		t.Fatalf("after %d kills the output differs from the uninterrupted run", kills)
	}
	t.Logf("%d SIGKILLs, restarts resumed at byte offsets %v of %d; final counts equal the uninterrupted run (%d distinct words)", kills, resumedAt, st.Size(), len(want))
}
