package e2e

// The container image (Containerfile) built with podman and run the way
// Kubernetes runs it: the config directory laid out like a mounted
// ConfigMap (pipeline.yaml → ..data/pipeline.yaml, ..data → a timestamped
// directory), updated by swapping the ..data symlink from outside.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/internal/dbtest"
)

// podmanRun is how these machines run containers: runc with cgroupfs and
// explicit ulimits (the default crun fails on their rlimits and cgroups).
var podmanRun = []string{"--runtime", "runc", "--cgroup-manager=cgroupfs", "run",
	"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"}

// requirePodman installs podman (e2e/setup/podman.sh) or skips, failing
// under CI=true.
func requirePodman(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("sh", filepath.Join(repoRoot, "e2e", "setup", "podman.sh")).Output()
	if err != nil {
		var stderr []byte
		if exit, ok := err.(*exec.ExitError); ok {
			stderr = exit.Stderr
		}
		if os.Getenv("CI") == "true" {
			t.Fatalf("podman unavailable (CI=true): %v\n%s", err, stderr)
		}
		t.Skipf("podman unavailable: %v\n%s", err, stderr)
	}
	return strings.TrimSpace(string(out))
}

func podman(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("podman %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// configMap is a directory laid out as Kubernetes mounts a ConfigMap.
type configMap struct {
	dir string
	n   int
}

// publish writes a new version of pipeline.yaml and swaps ..data to it, as
// the kubelet does: a new timestamped directory, a ..data_tmp symlink to
// it, renamed over ..data.
func (c *configMap) publish(t *testing.T, text string) {
	t.Helper()
	c.n++
	version := fmt.Sprintf("..2026_11_30_12_00_%02d.%d", c.n, os.Getpid())
	if err := os.Mkdir(filepath.Join(c.dir, version), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.dir, version, "pipeline.yaml"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(c.dir, "..data_tmp")
	if err := os.Symlink(version, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(c.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if c.n == 1 {
		if err := os.Symlink(filepath.Join("..data", "pipeline.yaml"), filepath.Join(c.dir, "pipeline.yaml")); err != nil {
			t.Fatal(err)
		}
	}
}

// containerConfig is tagConfig as the container sees it: output under the
// mounted /var/lib/pipeline/out, the HTTP server on a free host port.
func containerConfig(tag string, port int) string {
	return strings.Replace(tagConfig(tag, "/var/lib/pipeline/out/out.txt"),
		"http: { enabled: false }", fmt.Sprintf("http: { address: 127.0.0.1:%d }", port), 1)
}

// TestContainerReloadsConfigMap builds the image, runs it with a
// ConfigMap-style config directory and --watch (the image's default
// command), swaps ..data twice (a new map, then an invalid file) and stops
// it: the output switches at a clean boundary with nothing lost, the
// invalid version is reported with its line and column while the pipeline
// goes on, the process runs as the image's non-root user, and /ready
// answers throughout, on the address of the config rather than the image's
// default of every interface.
func TestContainerReloadsConfigMap(t *testing.T) {
	t.Parallel()
	bin := requirePodman(t)
	// The image, from a context holding the Containerfile, the rootfs and
	// the binary this test run built.
	buildDir := t.TempDir()
	for _, f := range []string{"Containerfile", "container"} {
		if out, err := exec.Command("cp", "-r", filepath.Join(repoRoot, f), buildDir).CombinedOutput(); err != nil {
			t.Fatalf("cp %s: %v\n%s", f, err, out)
		}
	}
	if err := os.MkdirAll(filepath.Join(buildDir, "build"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", pipelineBin, filepath.Join(buildDir, "build", "pipeline")).CombinedOutput(); err != nil {
		t.Fatalf("cp binary: %v\n%s", err, out)
	}
	image := fmt.Sprintf("localhost/pipeline-e2e:%d", os.Getpid())
	podman(t, bin, "build", "--network=none", "--pull=never", "-q", "-t", image, "-f", filepath.Join(buildDir, "Containerfile"), buildDir)
	t.Cleanup(func() { exec.Command(bin, "rmi", "-f", image).Run() })
	// A binary run by hand serves loopback only; the image serves every
	// interface unless the config says otherwise (this test's config does:
	// /ready below answers only if its address wins).
	env := podman(t, bin, "image", "inspect", "--format", "{{range .Config.Env}}{{println .}}{{end}}", image)
	if !strings.Contains(env, "PIPELINE_HTTP_ADDRESS=0.0.0.0:4195\n") {
		t.Fatalf("the image does not set PIPELINE_HTTP_ADDRESS=0.0.0.0:4195; its environment:\n%s", env)
	}

	cm := &configMap{dir: t.TempDir()}
	port, err := dbtest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cm.publish(t, containerConfig("v1", port))
	outDir := t.TempDir()
	// The image's user (65532) writes the output.
	if err := os.Chmod(outDir, 0o777); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("pipeline-e2e-%d", os.Getpid())
	args := append(append([]string{}, podmanRun...), "--rm", "--name", name, "--network", "host",
		"-v", cm.dir+":/etc/pipeline:ro", "-v", outDir+":/var/lib/pipeline/out", image)
	cmd := exec.Command(bin, args...)
	p := &bgPipeline{cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p, p
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		if !p.exited() {
			exec.Command(bin, "rm", "-f", name).Run()
			<-p.done
		}
	})
	out := filepath.Join(outDir, "out.txt")
	awaitOutputTag(t, p, out, "v1")
	ready := fmt.Sprintf("http://127.0.0.1:%d/ready", port)
	requireReady(t, ready)

	cm.publish(t, containerConfig("v2", port))
	awaitOutputTag(t, p, out, "v2")
	requireReady(t, ready)

	cm.publish(t, strings.Replace(containerConfig("v3", port), "interval: 2ms", "interval: soon", 1))
	awaitGrowth(t, p, out, 200)
	want := "/etc/pipeline/pipeline.yaml:4:47: input.generate.interval: "
	if !strings.Contains(p.stderr(), want) {
		t.Fatalf("the container's log does not report the invalid version as %q:\n%s", want, p.stderr())
	}
	requireReady(t, ready)

	podman(t, bin, "stop", "-t", "30", name)
	<-p.done
	if p.err != nil {
		t.Fatalf("the container did not exit 0 after podman stop: %v\n%s", p.err, p.stderr())
	}
	requireTagBlocks(t, taggedLines(t, out), "v1", "v2")
	info, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if uid := info.Sys().(*syscall.Stat_t).Uid; uid != 65532 {
		t.Fatalf("the output file is owned by uid %d, want the image's non-root user 65532", uid)
	}
	t.Logf("container: ..data swapped twice; %d lines, v1 then v2 with no gap; the invalid version reported as %s…", len(taggedLines(t, out)), want)
}

func requireReady(t *testing.T, url string) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := client.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("%d %s", resp.StatusCode, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
