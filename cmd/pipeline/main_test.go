package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"go.uber.org/goleak"
)

// TestMain makes this test binary double as the pipeline command: a script's
// `exec pipeline ...` runs main in a child process. The tests themselves
// fail when one of them left a goroutine behind.
func TestMain(m *testing.M) {
	testscript.Main(leakChecked{m}, map[string]func(){
		"pipeline": main,
	})
}

// leakChecked runs the tests as goleak.VerifyTestMain does, but hands the
// exit code back to testscript.Main, which exits with it.
type leakChecked struct{ m *testing.M }

func (l leakChecked) Run() (code int) {
	goleak.VerifyTestMain(l.m, goleak.Cleanup(func(c int) { code = c }))
	return code
}

// TestScripts runs testdata/script/*.txtar. Each script starts in a fresh
// directory holding its files; UPDATE_SCRIPTS=1 rewrites the expected files
// of failing cmp commands.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: os.Getenv("UPDATE_SCRIPTS") == "1",
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitfile":  waitFile,
			"waitgrep":  waitGrep,
			"waitgrow":  waitGrow,
			"validjson": validJSON,
		},
	})
}

// waitGrep waits until a line of a file matches a regular expression: a
// script changes the config of a running pipeline and waits for the new
// config's output.
//
//	waitgrep FILE REGEXP
func waitGrep(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitgrep FILE REGEXP")
	}
	re, err := regexp.Compile("(?m)" + args[1])
	ts.Check(err)
	path := ts.MkAbs(args[0])
	deadline := time.Now().Add(20 * time.Second)
	for {
		if data, err := os.ReadFile(path); err == nil && re.Match(data) {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("no line of %s matched %q within 20s", args[0], args[1])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitGrow waits until a file has N lines more than when it was called: a
// script lets a running pipeline go on for a while.
//
//	waitgrow FILE N
func waitGrow(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitgrow FILE N")
	}
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	path := ts.MkAbs(args[0])
	lines := func() int {
		data, _ := os.ReadFile(path)
		return bytes.Count(data, []byte("\n"))
	}
	want := lines() + n
	deadline := time.Now().Add(20 * time.Second)
	for lines() < want {
		if time.Now().After(deadline) {
			ts.Fatalf("%s did not grow by %d lines within 20s", args[0], n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitFile waits until a file exists and is not empty: a script starts a
// long-running pipeline in the background and must wait for it to work
// before it signals it.
//
//	waitfile FILE
func waitFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitfile FILE")
	}
	path := ts.MkAbs(args[0])
	deadline := time.Now().Add(20 * time.Second)
	for {
		if info, err := os.Stat(path); err == nil && info.Size() > 0 {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s did not appear within 20s", args[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// validJSON fails unless a file (or stdout/stderr of the last command) is
// one valid JSON document.
//
//	validjson FILE
func validJSON(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: validjson FILE")
	}
	valid := json.Valid([]byte(ts.ReadFile(args[0])))
	if valid == neg {
		ts.Fatalf("%s: valid JSON is %v", args[0], valid)
	}
}

// TestExitCodes checks what scripts cannot: the exact exit status.
func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("inptu: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"version"}, exitOK},
		{[]string{"list", "inputs"}, exitOK},
		{[]string{"lint", bad}, exitFailure},
		{[]string{"run", "-c", bad}, exitFailure},
		{[]string{"run", "-c", filepath.Join(dir, "missing.yaml")}, exitFailure},
		{[]string{"nonsense"}, exitUsage},
		{[]string{"run"}, exitUsage},
		{[]string{"list", "--format", "yaml"}, exitUsage},
	} {
		var stdout, stderr bytes.Buffer
		if got := run(tc.args, &stdout, &stderr, "v0.0.0-test"); got != tc.want {
			t.Errorf("pipeline %s: exit %d, want %d; stderr:\n%s", strings.Join(tc.args, " "), got, tc.want, stderr.String())
		}
	}
}

func TestVersionFromBuildInfo(t *testing.T) {
	for _, tc := range []struct {
		name string
		info debug.BuildInfo
		want string
	}{
		{name: "module version", info: debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, want: "v1.4.0"},
		{name: "nothing known", info: debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, want: "(devel)"},
		{name: "checkout", info: debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"},
		}}, want: "devel-0123456789ab-dirty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := versionFromBuildInfo(&tc.info); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	if got := resolveVersion("v9.9.9"); got != "v9.9.9" {
		t.Errorf("a version set at link time: got %q", got)
	}
}
