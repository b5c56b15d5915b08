package e2e

import (
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// checkWordcountKafkaExample runs pipelines/wordcount-kafka.yaml against the
// real broker and the development broker: lines produced with kcat, running counts read back with kcat.
// Without a crash every word's updates are exactly 1, 2, ..., its count.
func checkWordcountKafkaExample(t *testing.T, file string) {
	forEachKafka(t, func(t *testing.T, bootstrap string) { checkWordcountKafka(t, file, bootstrap) })
}

func checkWordcountKafka(t *testing.T, file, bootstrap string) {
	in, out := kafkaTestName(t, "text"), kafkaTestName(t, "counts")
	cmd := exec.Command(pipelineBin, "run", "-c", file,
		"-s", "input.kafka.topics.0="+in, "-s", "output.kafka.topic="+out,
		"-s", "state.dir="+t.TempDir(), "-s", "commit_interval=200ms")
	cmd.Dir = repoRoot
	cmd.Env = append(cmd.Environ(), "KAFKA_BROKERS="+bootstrap)
	// Read while the process writes to it: on a failure, the test reports
	// what the pipeline logged so far.
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{}) // closed once the process is waited for
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	// The pipeline creates its input topic with one partition at start.
	// (Listing every topic: asking for this one would auto-create it.)
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(kcat(t, "", "-L", "-b", bootstrap), `topic "`+in+`" with 1 partitions`) {
		if time.Now().After(deadline) {
			t.Fatalf("the pipeline did not create %s:\n%s", in, stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	text := "Kafka streams and Kafka Connect\nSTRASSE straße Straße\nkafka   again\tand again\n"
	kcat(t, text, "-P", "-b", bootstrap, "-t", in)
	want := map[string]int{}
	for _, w := range strings.Fields(strings.ToLower(text)) {
		want[w]++
	}

	var updates map[string][]int
	for deadline = time.Now().Add(60 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		updates = map[string][]int{}
		raw := kcat(t, "", "-C", "-b", bootstrap, "-t", out, "-e", "-q", "-f", "%k %s\n")
		for _, line := range strings.Split(strings.TrimSpace(raw), "\n") {
			word, count, ok := strings.Cut(line, " ")
			n, err := strconv.Atoi(count)
			if ok && err == nil {
				updates[word] = append(updates[word], n)
			}
		}
		complete := len(updates) == len(want)
		for w, n := range want {
			complete = complete && len(updates[w]) > 0 && updates[w][len(updates[w])-1] == n
		}
		if complete {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("counts on %s: %v, want final counts %v\n%s", out, updates, want, stderr.String())
		}
	}
	for w, n := range want {
		for i, c := range updates[w] {
			if c != i+1 || len(updates[w]) != n {
				t.Fatalf("updates of %q are %v, want 1..%d", w, updates[w], n)
			}
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-exited
	if waitErr != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", waitErr, stderr.String())
	}
}
