package e2e

// Real Apache Kafka for the e2e suite: a single-node KRaft broker run from the
// Maven Central jars listed in kafka/pom.xml by kafka/broker.sh, with kcat as
// the independent client that produces inputs and reads outputs back.
//
// Lifecycle. startKafka shares one broker among all the tests of a test binary
// (started on first use, sync.Once). It is stopped by stopKafka, a hook that
// TestMain may call after m.Run; until it does, broker.sh's watchdog stops the
// broker and removes its directory within about a second of the test binary
// exiting (also when it is killed), so no process is left behind either way.
// Tests that need a broker of their own (for example to restart it mid-stream)
// use newKafkaBroker, which is stopped by the test's cleanup.
//
// When the broker cannot be started (no java or mvn, no network to Maven
// Central, no kcat) the tests are skipped with the reason, or fail when CI=true.

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// kafkaBroker is one running broker started by kafka/broker.sh.
type kafkaBroker struct {
	Bootstrap string // host:port of the PLAINTEXT listener
	dir       string
	startup   time.Duration
	stopOnce  sync.Once
}

var (
	sharedKafkaOnce sync.Once
	sharedKafka     *kafkaBroker
	sharedKafkaErr  error
)

// startKafka returns the bootstrap address of the broker shared by this test
// binary, starting it on first use.
func startKafka(t *testing.T) (bootstrap string) {
	t.Helper()
	sharedKafkaOnce.Do(func() {
		dir, err := os.MkdirTemp("", "pipeline-e2e-kafka")
		if err != nil {
			sharedKafkaErr = err
			return
		}
		sharedKafka, sharedKafkaErr = launchKafka(dir, true)
		if sharedKafkaErr != nil {
			os.RemoveAll(dir)
		}
	})
	if sharedKafkaErr != nil {
		kafkaUnavailable(t, sharedKafkaErr)
	}
	t.Logf("Kafka broker at %s (started in %v)", sharedKafka.Bootstrap, sharedKafka.startup.Round(time.Millisecond))
	return sharedKafka.Bootstrap
}

// stopKafka stops the shared broker, if one was started. It is meant to be
// called from TestMain after m.Run; it is safe to call more than once.
func stopKafka() {
	if sharedKafka != nil {
		sharedKafka.stop()
		os.RemoveAll(sharedKafka.dir)
	}
}

func kafkaUnavailable(t *testing.T, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("real Kafka broker unavailable (CI=true): %v", err)
	}
	t.Skipf("real Kafka broker unavailable: %v", err)
}

func brokerScript() string { return filepath.Join(repoRoot, "e2e", "kafka", "broker.sh") }

func launchKafka(dir string, removeDirOnExit bool) (*kafkaBroker, error) {
	for _, tool := range []string{"bash", "java"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s not found: %w", tool, err)
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cport, err := freePort()
	if err != nil {
		return nil, err
	}
	// The first run fetches the jars from Maven Central; later runs use the cache.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", brokerScript(), "start", dir, strconv.Itoa(port), strconv.Itoa(cport))
	cmd.Env = append(os.Environ(), "KAFKA_OWNER_PID="+strconv.Itoa(os.Getpid()))
	if removeDirOnExit {
		cmd.Env = append(cmd.Env, "KAFKA_OWNER_REMOVE_DIR=1")
	}
	began := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		// broker.sh stops what it started when it fails; make sure.
		exec.Command("bash", brokerScript(), "stop", dir).Run()
		return nil, fmt.Errorf("kafka/broker.sh start: %v\n%s", err, out)
	}
	if _, err := exec.LookPath("kcat"); err != nil {
		exec.Command("bash", brokerScript(), "stop", dir).Run()
		return nil, fmt.Errorf("kcat not found: %w", err)
	}
	return &kafkaBroker{Bootstrap: "127.0.0.1:" + strconv.Itoa(port), dir: dir, startup: time.Since(began)}, nil
}

func (b *kafkaBroker) stop() {
	b.stopOnce.Do(func() {
		exec.Command("bash", brokerScript(), "stop", b.dir).Run()
	})
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// kcat runs kcat with stdin and returns its stdout, failing the test on error.
func kcat(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kcat", args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

func TestKafkaBrokerSmoke(t *testing.T) {
	bootstrap := startKafka(t)
	topic := fmt.Sprintf("smoke-%d", time.Now().UnixNano())

	const n = 1000
	want := make([]string, 0, n)
	var in strings.Builder
	for i := range n {
		kv := fmt.Sprintf("key-%04d:value-%d", i%97, i)
		want = append(want, kv)
		in.WriteString(kv + "\n")
	}
	// The topic is auto-created on first produce with num.partitions=3.
	kcat(t, in.String(), "-P", "-b", bootstrap, "-t", topic, "-K:")

	var meta struct {
		Topics []struct {
			Topic      string            `json:"topic"`
			Partitions []json.RawMessage `json:"partitions"`
		} `json:"topics"`
	}
	if err := json.Unmarshal([]byte(kcat(t, "", "-L", "-J", "-b", bootstrap, "-t", topic)), &meta); err != nil {
		t.Fatalf("kcat -L -J: %v", err)
	}
	if len(meta.Topics) != 1 || len(meta.Topics[0].Partitions) != 3 {
		t.Fatalf("topic metadata: want 1 topic with 3 partitions, got %+v", meta.Topics)
	}

	out := kcat(t, "", "-C", "-b", bootstrap, "-t", topic, "-e", "-q", "-f", "%k:%s\n")
	got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("consumed %d records, want exactly the %d produced (first got %q)", len(got), len(want), got[:min(3, len(got))])
	}
}
