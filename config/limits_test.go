package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// billionLaughs is 9 levels of 9 aliases: 387 million nodes expanded.
func billionLaughs() string {
	var b strings.Builder
	b.WriteString(`a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]` + "\n")
	for level := 'b'; level <= 'i'; level++ {
		prev := string(level - 1)
		fmt.Fprintf(&b, "%c: &%c [%s]\n", level, level, strings.Repeat("*"+prev+",", 8)+"*"+prev)
	}
	return b.String()
}

// within fails the test when f takes more than limit (it gives it ten
// times that before giving up on it).
func within[T any](t *testing.T, limit time.Duration, f func() T) T {
	t.Helper()
	done := make(chan T, 1)
	start := time.Now()
	go func() { done <- f() }()
	select {
	case v := <-done:
		if took := time.Since(start); took > limit {
			t.Errorf("took %v, want at most %v", took, limit)
		}
		return v
	case <-time.After(10 * limit):
		t.Fatalf("still running after %v", 10*limit)
		panic("unreachable")
	}
}

// TestAliasBombIsRefused: a billion laughs is refused within a second, by
// Load (the error names the alias that multiplies the document) and by
// Fingerprint of a tree that did not come from Load.
func TestAliasBombIsRefused(t *testing.T) {
	bomb := billionLaughs()
	err := within(t, time.Second, func() error {
		_, err := Load("bomb.yaml", []byte(bomb), LoadOptions{LookupEnv: env(nil)})
		return err
	})
	want := "bomb.yaml:5:8: e.0: alias *d: expanding the aliases makes the config more than 10000 nodes, " +
		"from 100 as written; aliases may repeat parts of a config, not multiply it"
	if err == nil || err.Error() != want {
		t.Fatalf("error %v\nwant  %s", err, want)
	}
	var raw yaml.Node
	if err := yaml.Unmarshal([]byte(bomb), &raw); err != nil {
		t.Fatal(err)
	}
	fp := within(t, time.Second, func() string { return Fingerprint(&raw) })
	if len(fp) != 64 {
		t.Fatalf("fingerprint %q", fp)
	}
	_, err = Load("c.yaml", []byte("name: n\n"), LoadOptions{LookupEnv: env(nil), Overrides: []string{"x=" + yamlFlow(bomb)}})
	if err == nil || !strings.Contains(err.Error(), "aliases may repeat parts of a config, not multiply it") {
		t.Fatalf("a bomb in --set: %v", err)
	}
}

// yamlFlow writes the bomb as one flow mapping, as a --set value.
func yamlFlow(doc string) string {
	return "{" + strings.ReplaceAll(strings.TrimSpace(doc), "\n", ", ") + "}"
}

// TestAliasesLoad: a config may reuse parts of itself with aliases; they
// are expanded into copies, so that parsing, interpolation (once) and
// overrides (of one copy) work on them as on anything written out.
func TestAliasesLoad(t *testing.T) {
	text := `name: n
tls: &tls {enabled: true, ca: '$${not an env var} ${CA:/ca.pem}'}
cases:
  - &case {when: 'value > 1'}
  - *case
labels: &labels {a: "1"}
set: *labels
`
	p, err := parse(t, text, LoadOptions{Overrides: []string{"cases.1.when=value > 2"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Object("tls").String("ca"); got != "${not an env var} /ca.pem" {
		t.Errorf("tls.ca = %q", got)
	}
	cases := p.ObjectList("cases")
	if len(cases) != 2 || cases[0].Expr("when").Text != "value > 1" || cases[1].Expr("when").Text != "value > 2" {
		t.Errorf("cases %v, want the override to change the copy only", cases)
	}
	if set := p.Map("set"); len(set) != 1 || set[0].Key != "a" || set[0].Value != "1" {
		t.Errorf("set %v", set)
	}
	doc, err := Load("c.yaml", []byte(text), LoadOptions{LookupEnv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	written := "name: n\ntls: {enabled: true, ca: '$${not an env var} ${CA:/ca.pem}'}\ncases: [{when: 'value > 1'}, {when: 'value > 1'}]\nlabels: {a: \"1\"}\nset: {a: \"1\"}\n"
	plain, err := Load("c.yaml", []byte(written), LoadOptions{LookupEnv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if Fingerprint(doc.Root) != Fingerprint(plain.Root) {
		t.Error("a config with aliases has another fingerprint than the same config written out")
	}
}

// TestFingerprintIsStable: fingerprints are kept with state; a config
// written without aliases has the fingerprint it always had.
func TestFingerprintIsStable(t *testing.T) {
	got := fingerprintOf(t, "name: orders\ninput:\n  file: { paths: [a.txt], codec: lines }\npipeline:\n  processors:\n"+
		"    - map: {set: {total: 'value.price * value.qty'}}\nmax_in_flight: 4\nratio: 0.5\nflag: true\nnothing: null\n")
	if got != "7fad48781c39d9c11be373affe47b225ce0cf55c3c839611050cf4c10cd42ba5" {
		t.Fatalf("fingerprint %s changed", got)
	}
}

// TestHugeConfigIsRefusedBeforeParsing: a 50 MB config (a million
// processors) is refused by its size, before any of it is parsed, whether
// it comes from a file, a pipe or bytes.
func TestHugeConfigIsRefusedBeforeParsing(t *testing.T) {
	const line = "    - filter: 'true'\n" // 21 bytes
	huge := "pipeline:\n  processors:\n" + strings.Repeat(line, (50<<20)/len(line))
	path := filepath.Join(t.TempDir(), "huge.yaml")
	if err := os.WriteFile(path, []byte(huge), 0o600); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%s: the config is %d bytes, more than the limit of 4194304 (4 MiB)", path, len(huge))
	if _, err := LoadFile(path, LoadOptions{}); err == nil || err.Error() != want {
		t.Fatalf("LoadFile: %v\nwant %s", err, want)
	}
	if _, err := Load("huge.yaml", []byte(huge), LoadOptions{}); err == nil || err.Error() != fmt.Sprintf("huge.yaml: the config is %d bytes, more than the limit of 4194304 (4 MiB)", len(huge)) {
		t.Fatalf("Load: %v", err)
	}
	if _, err := Load("c.yaml", []byte("name: n\n"), LoadOptions{Overrides: []string{"name=" + huge}}); err == nil ||
		err.Error() != fmt.Sprintf("--set: the --set values are %d bytes, more than the limit of 4194304 (4 MiB)", len(huge)+len("name=")) {
		t.Fatalf("--set: %v", err)
	}
}

func TestHugeConfigFromAPipe(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "config.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no named pipes: %v", err)
	}
	wrote := make(chan error, 1)
	go func() {
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			wrote <- err
			return
		}
		defer w.Close()
		chunk := []byte(strings.Repeat("# a comment line of the config\n", 1024))
		for written := 0; written < 50<<20; written += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				wrote <- nil // the reader stopped at the limit
				return
			}
		}
		wrote <- fmt.Errorf("all 50 MB were read")
	}()
	_, err := LoadFile(fifo, LoadOptions{})
	if want := fifo + ": the config is more than 4194304 bytes (4 MiB), the limit"; err == nil || err.Error() != want {
		t.Fatalf("error %v, want %s", err, want)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
}

// TestTooManyNodesIsRefused: within the byte limit, a config of more than
// MaxNodes nodes is refused before anything is built of it.
func TestTooManyNodesIsRefused(t *testing.T) {
	text := "list: [" + strings.Repeat("1,", 100_000) + "1]\n"
	_, err := Load("many.yaml", []byte(text), LoadOptions{})
	if err == nil || err.Error() != "many.yaml: the config has more than 100000 nodes (keys, values and list items), the limit" {
		t.Fatalf("error %v", err)
	}
	setting := "list=[" + strings.Repeat("1,", 100_000) + "1]"
	_, err = Load("many.yaml", []byte("name: n\n"), LoadOptions{Overrides: []string{setting}})
	want := "--set " + setting[:80] + "… (200008 bytes): the config has more than 100000 nodes (keys, values and list items), the limit"
	if err == nil || err.Error() != want {
		t.Fatalf("--set: error %.300v", err)
	}
	third := "[" + strings.Repeat("1,", 40_000) + "1]"
	_, err = Load("many.yaml", []byte("name: n\n"), LoadOptions{Overrides: []string{"a=" + third, "b=" + third, "c=" + third}})
	if err == nil || err.Error() != "many.yaml: the config has more than 100000 nodes (keys, values and list items), the limit" {
		t.Fatalf("two --set values: error %.300v", err)
	}
}
