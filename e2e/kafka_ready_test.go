package e2e

// /ready tells the truth for a Kafka input, on both brokers: an
// exactly-once instance restarted under another instance id (a pod
// rescheduled under a new name) cannot join its group while the killed
// member's session lasts; /ready answers 503 with the reason all that time,
// and 200 once the group assigned it its partition.

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/internal/dbtest"
)

func TestKafkaReadyWhileTheGroupCannotBeJoined(t *testing.T) {
	t.Parallel()
	forEachKafka(t, testKafkaReadyWhileTheGroupCannotBeJoined)
}

// readySessionTimeout is the killed member's session: the time the
// restarted one cannot join.
const readySessionTimeout = 10 * time.Second

func testKafkaReadyWhileTheGroupCannotBeJoined(t *testing.T, bootstrap string) {
	in, out, name := kafkaTestName(t, "text"), kafkaTestName(t, "counts"), kafkaTestName(t, "wordcount")
	watch := newProgress(t, bootstrap)
	watch.createTopicPartitions(t, in, 1)
	kcat(t, "kafka streams\nkafka connect\n", "-P", "-b", bootstrap, "-t", in)
	state := t.TempDir()
	start := func(instance string) (*bgPipeline, string) {
		port, err := dbtest.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		p := startPipelineArgs(t, []string{"KAFKA_BROKERS=" + bootstrap}, "run", "-c", "pipelines/wordcount-kafka.yaml",
			"-s", "processing_guarantee=exactly_once", "-s", "name="+name, "-s", "input.kafka.topics.0="+in, "-s", "output.kafka.topic="+out,
			"-s", "state.dir="+state, "-s", "input.kafka.instance_id="+instance, "-s", "input.kafka.session_timeout="+readySessionTimeout.String(),
			"-s", "http.enabled=true", "-s", "http.address=127.0.0.1:"+strconv.Itoa(port))
		return p, fmt.Sprintf("http://127.0.0.1:%d/ready", port)
	}

	first, url := start("first")
	awaitReady(t, first, url, 30*time.Second, func(code int, body string) bool { return code == http.StatusOK })
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-first.done
	killed := time.Now()

	second, url := start("second")
	joining := fmt.Sprintf(`not ready: pipeline %s is running but cannot make progress: input: joining consumer group %q as instance "second" for `, name, name)
	code, body := awaitReady(t, second, url, 15*time.Second, func(code int, body string) bool {
		return code == http.StatusServiceUnavailable && strings.HasPrefix(body, joining)
	})
	if !strings.HasSuffix(strings.TrimSpace(body), ": no partitions assigned yet") {
		t.Fatalf("GET /ready: %d %q, want the reason to end in: no partitions assigned yet", code, body)
	}
	notReady := time.Now()
	t.Logf("%v after the kill: %d %s", notReady.Sub(killed).Round(time.Millisecond), code, strings.TrimSpace(body))

	code, body = awaitReady(t, second, url, readySessionTimeout+30*time.Second, func(code int, body string) bool {
		if code == http.StatusServiceUnavailable && !strings.HasPrefix(body, joining) {
			t.Fatalf("GET /ready while joining: %d %q, want %q…", code, body, joining)
		}
		return code == http.StatusOK
	})
	if want := fmt.Sprintf("ready: pipeline %s is running\n", name); body != want {
		t.Fatalf("GET /ready: %d %q, want %q", code, body, want)
	}
	t.Logf("%v after the kill, once the killed member's session (%v) ended: %d %s",
		time.Since(killed).Round(time.Millisecond), readySessionTimeout, code, strings.TrimSpace(body))
	if time.Since(notReady) < time.Second {
		t.Fatalf("ready %v after the first 503: the join was not held", time.Since(notReady))
	}
	second.stop(t)
}

// awaitReady polls url until done says the answer is the one awaited, and
// returns it; the pipeline must not exit meanwhile.
func awaitReady(t *testing.T, p *bgPipeline, url string, within time.Duration, done func(code int, body string) bool) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(within)
	var last string
	for {
		resp, err := client.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if done(resp.StatusCode, string(b)) {
				return resp.StatusCode, string(b)
			}
			last = fmt.Sprintf("%d %q", resp.StatusCode, b)
		} else {
			last = err.Error()
		}
		if p.exited() {
			t.Fatalf("the pipeline exited; GET /ready last answered %s:\n%s", last, p.stderr())
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /ready: the answer awaited did not come in %v; the last: %s\n%s", within, last, lastLines(p.stderr(), 20))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
