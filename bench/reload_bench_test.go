package bench

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/internal/dbtest"
)

// BenchmarkReloadPause: the pause a config change makes, from the moment
// the new file is in place (renamed over the old one, as editors do) to the
// new pipeline's first output, with `pipeline run --watch` and its default
// debounce; and the same swap asked for with POST /reload (no debounce).
// The baseline is what users of runners without hot reload do: a restart,
// from SIGTERM to the new process's first output. Each is the median of
// reloadRounds; the ratio is watched reload / restart.
func BenchmarkReloadPause(b *testing.B) {
	bin := pipelineBinary(b)
	const reloadRounds = 7
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		cfg, out := filepath.Join(dir, "cfg", "pipeline.yaml"), filepath.Join(dir, "out", "out.txt")
		if err := os.MkdirAll(filepath.Dir(cfg), 0o755); err != nil {
			b.Fatal(err)
		}
		port, err := dbtest.FreePort()
		if err != nil {
			b.Fatal(err)
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		stateDir := b.TempDir() // the generator's position, kept across restarts
		config := func(tag int) []byte {
			return fmt.Appendf(nil, `
name: reload-bench
input: {generate: {value: 'meta.offset', interval: 1ms}}
pipeline: {processors: [{map: {value: '"v%d-" + string(value)'}}]}
output: {file: {path: %q}}
state: {dir: %q}
http: {address: %q}
`, tag, out, stateDir, addr)
		}
		publish := func(tag int) {
			tmp := cfg + ".tmp"
			if err := os.WriteFile(tmp, config(tag), 0o644); err != nil {
				b.Fatal(err)
			}
			if err := os.Rename(tmp, cfg); err != nil {
				b.Fatal(err)
			}
		}
		tail := &fileTail{path: out}
		publish(0)
		p := startPipelineProc(b, bin, "run", "-c", cfg, "--watch")
		tail.await(b, "v0-", p)

		var reloads, posted, restarts []time.Duration
		for round := 1; round <= reloadRounds; round++ {
			began := time.Now()
			publish(round)
			tail.await(b, fmt.Sprintf("v%d-", round), p)
			reloads = append(reloads, time.Since(began))
		}
		// The same swap asked for by POST /reload, of a process that does
		// not watch the file.
		for round := reloadRounds + 1; round <= 2*reloadRounds; round++ {
			p.stop(b)
			p = startPipelineProc(b, bin, "run", "-c", cfg)
			awaitReady(b, addr, p)
			publish(round)
			began := time.Now()
			resp, err := http.Post("http://"+addr+"/reload", "", nil)
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("POST /reload: %s", resp.Status)
			}
			tail.await(b, fmt.Sprintf("v%d-", round), p)
			posted = append(posted, time.Since(began))
		}
		for round := 2*reloadRounds + 1; round <= 3*reloadRounds; round++ {
			publish(round)
			began := time.Now()
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			p.wait(b)
			p = startPipelineProc(b, bin, "run", "-c", cfg)
			tail.await(b, fmt.Sprintf("v%d-", round), p)
			restarts = append(restarts, time.Since(began))
		}
		p.stop(b)
		reload, post, restart := medianDuration(reloads), medianDuration(posted), medianDuration(restarts)
		b.ReportMetric(float64(reload.Milliseconds()), "reload_ms")
		b.ReportMetric(float64(post.Microseconds())/1000, "post_reload_ms")
		b.ReportMetric(float64(restart.Milliseconds()), "restart_ms")
		b.ReportMetric(reload.Seconds()/restart.Seconds(), "ratio")
		fmt.Fprintf(benchOut, "reload pause, median of %d: --watch (file renamed → first output of the new config, debounce 250ms) %v (all %v); POST /reload → first output %v (all %v); restart (SIGTERM → first output of a new process) %v (all %v); ratio watch/restart %.2f\n",
			reloadRounds, reload.Round(time.Millisecond), roundAll(reloads), post.Round(100*time.Microsecond), roundAll(posted),
			restart.Round(time.Millisecond), roundAll(restarts), reload.Seconds()/restart.Seconds())
	}
}

// startPipelineProc runs the binary with args in the background, from the
// repository root.
func startPipelineProc(b *testing.B, bin string, args ...string) *pipelineProc {
	b.Helper()
	p := &pipelineProc{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Dir = ".."
	p.cmd.Stderr = p
	if err := p.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p
}

// fileTail follows a growing file.
type fileTail struct {
	path string
	off  int64
	buf  []byte
}

// await reads on until a line starting with prefix appears.
func (f *fileTail) await(b *testing.B, prefix string, p *pipelineProc) {
	b.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if file, err := os.Open(f.path); err == nil {
			chunk := make([]byte, 1<<16)
			for {
				n, _ := file.ReadAt(chunk, f.off)
				if n == 0 {
					break
				}
				f.off += int64(n)
				f.buf = append(f.buf, chunk[:n]...)
			}
			file.Close()
		}
		for {
			i := bytes.IndexByte(f.buf, '\n')
			if i < 0 {
				break
			}
			line := f.buf[:i]
			f.buf = f.buf[i+1:]
			if bytes.HasPrefix(line, []byte(prefix)) {
				return
			}
		}
		select {
		case <-p.done:
			b.Fatalf("the pipeline exited before writing %s:\n%s", prefix, p.tail())
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("no %s line after 30s:\n%s", prefix, p.tail())
		}
		time.Sleep(time.Millisecond)
	}
}

func medianDuration(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(100 * time.Microsecond)
	}
	return out
}

// awaitReady waits until the pipeline's /ready answers 200.
func awaitReady(b *testing.B, addr string, p *pipelineProc) {
	b.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get("http://" + addr + "/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-p.done:
			b.Fatalf("the pipeline exited:\n%s", p.tail())
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("/ready did not answer 200 in 30s:\n%s", p.tail())
		}
		time.Sleep(2 * time.Millisecond)
	}
}
