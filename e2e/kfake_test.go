package e2e

// The development broker (`pipeline broker`, franz-go's kfake) as a second
// Kafka for the same tests: forEachKafka runs a test against the real Apache
// Kafka broker and against it, as subtests apache-kafka and kfake. kfake is
// quick and in-process; the real broker is what production runs. A test that
// passes on one and fails on the other has found a difference worth knowing.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/internal/dbtest"
)

// forEachKafka runs test once per broker, in parallel subtests.
func forEachKafka(t *testing.T, test func(t *testing.T, bootstrap string)) {
	t.Helper()
	for _, backend := range []struct {
		name  string
		start func(*testing.T) string
	}{{"apache-kafka", startKafka}, {"kfake", startKfake}} {
		t.Run(backend.name, func(t *testing.T) {
			t.Parallel()
			test(t, backend.start(t))
		})
	}
}

var (
	sharedKfakeOnce sync.Once
	sharedKfake     *devBroker
	sharedKfakeErr  error
)

// startKfake returns the address of the development broker shared by this
// test binary, starting it on first use; stopKfake stops it.
func startKfake(t *testing.T) string {
	t.Helper()
	requireKcat(t)
	sharedKfakeOnce.Do(func() {
		sharedKfake = &devBroker{}
		sharedKfakeErr = sharedKfake.start("")
	})
	if sharedKfakeErr != nil {
		t.Fatalf("starting the development broker: %v", sharedKfakeErr)
	}
	return sharedKfake.Bootstrap
}

var (
	kcatOnce sync.Once
	kcatErr  error
)

// requireKcat installs kcat (kafka/broker.sh kcat) for tests that read the
// development broker with it, or skips (fails under CI=true).
func requireKcat(t *testing.T) {
	t.Helper()
	kcatOnce.Do(func() {
		if out, err := exec.Command("bash", brokerScript(), "kcat").CombinedOutput(); err != nil {
			kcatErr = fmt.Errorf("%v: %s", err, out)
		}
	})
	if kcatErr != nil {
		kafkaUnavailable(t, fmt.Errorf("kcat: %w", kcatErr))
	}
}

func stopKfake() {
	if sharedKfake != nil {
		sharedKfake.stop()
	}
}

// devBroker is one `pipeline broker` process with three partitions per
// auto-created topic, like the real test broker.
type devBroker struct {
	Bootstrap string
	dataDir   string
	cmd       *exec.Cmd
	done      chan struct{}
}

// newDevBroker starts a development broker of the test's own that keeps its
// topics in a directory, so that it can be stopped and started again.
func newDevBroker(t *testing.T) *devBroker {
	t.Helper()
	requireKcat(t)
	b := &devBroker{dataDir: t.TempDir()}
	if err := b.start(""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.stop)
	return b
}

// start runs the broker on addr, or on a free port when addr is empty.
func (b *devBroker) start(addr string) error {
	if addr == "" {
		port, err := dbtest.FreePort()
		if err != nil {
			return err
		}
		addr = "127.0.0.1:" + strconv.Itoa(port)
	}
	args := []string{"broker", "--addr", addr, "--partitions", "3"}
	if b.dataDir != "" {
		args = append(args, "--data-dir", b.dataDir)
	}
	b.cmd = exec.Command(pipelineBin, args...)
	stdout, err := b.cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr strings.Builder
	b.cmd.Stderr = &stderr
	if err := b.cmd.Start(); err != nil {
		return err
	}
	b.done = make(chan struct{})
	go func() { _ = b.cmd.Wait(); close(b.done) }()
	// The first line says where it listens; the rest is drained so that the
	// broker never blocks on a full pipe.
	lines := bufio.NewReader(stdout)
	first, err := lines.ReadString('\n')
	go func() { _, _ = io.Copy(io.Discard, lines) }()
	if err != nil || !strings.Contains(first, "listening on "+addr) {
		b.stop()
		return fmt.Errorf("pipeline broker: first line %q (%v); stderr: %s", first, err, stderr.String())
	}
	if conn, err := net.DialTimeout("tcp", addr, 5*time.Second); err != nil {
		b.stop()
		return err
	} else {
		conn.Close()
	}
	b.Bootstrap = addr
	return nil
}

// stop ends the broker with SIGTERM (it saves its data directory then) and
// waits for it to exit.
func (b *devBroker) stop() {
	if b.cmd == nil || b.cmd.Process == nil {
		return
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(20 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.done
	}
}

// restart stops the broker and starts it again on the same address and data.
func (b *devBroker) restart(t *testing.T, down time.Duration) {
	t.Helper()
	b.stop()
	time.Sleep(down)
	if err := b.start(b.Bootstrap); err != nil {
		t.Fatalf("restarting the development broker: %v", err)
	}
}
