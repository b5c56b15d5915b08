package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/pipelinehq/pipeline/internal/dbtest"
)

// pipelineBin is the binary built from this tree once for the whole e2e run,
// so the tests exercise exactly what users run.
var pipelineBin string

// repoRoot is the repository root; examples run from there, as the README does.
var repoRoot string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	root, err := filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	repoRoot = root
	dir, err := os.MkdirTemp("", "pipeline-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	pipelineBin = filepath.Join(dir, "pipeline")
	build := exec.Command("go", "build", "-o", pipelineBin, "./cmd/pipeline")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	var out bytes.Buffer
	build.Stdout, build.Stderr = &out, &out
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "building the pipeline binary: %v\n%s", err, out.String())
		return 1
	}
	// A broker started by any Kafka test lives for the whole run.
	defer stopKafka()
	defer stopKfake()
	defer dbtest.StopShared()
	return m.Run()
}

// runPipeline runs the binary from the repository root and returns its
// stdout, stderr and exit code.
func runPipeline(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(pipelineBin, args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if exit, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), exit.ExitCode()
	} else if err != nil {
		t.Fatalf("running pipeline: %v", err)
	}
	return o.String(), e.String(), 0
}
