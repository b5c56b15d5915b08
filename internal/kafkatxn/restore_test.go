package kafkatxn_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/inputs"
	"github.com/pipelinehq/pipeline/outputs"
	"github.com/pipelinehq/pipeline/processors"
	"github.com/pipelinehq/pipeline/service"
)

// A stateful exactly-once pipeline whose state directory is lost restores
// its state from the changelog: the running counts go on where they were
// (each key's updates are exactly 1, 2, …, n, read_committed), and the
// restore shows in pipeline_state_restored_records_total.
func TestRestoreFromChangelogAfterStateLoss(t *testing.T) {
	testRestoreAfter(t, func(t *testing.T, stateDir string) {
		if err := os.RemoveAll(stateDir); err != nil {
			t.Fatal(err)
		}
	})
}

// A corrupt state directory (bytes of its largest table flipped) is wiped,
// saying so, and restored from the changelog in full, as a lost one is.
func TestRestoreFromChangelogWhenStateIsCorrupt(t *testing.T) {
	logs := testRestoreAfter(t, func(t *testing.T, stateDir string) {
		tables, err := filepath.Glob(filepath.Join(stateDir, "*.sst"))
		if err != nil || len(tables) == 0 {
			t.Fatalf("no table in %s (%v)", stateDir, err)
		}
		for _, path := range tables {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, off := range []int{0, len(data) / 2, len(data) - 20} {
				data[off] ^= 0x5a
			}
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	})
	want := regexp.MustCompile(`level=WARN msg="the state is corrupt: wiping it, and restoring it from the changelogs" dir=\S+ error="state in \S+ is corrupt \(table \d+\.sst `)
	if !want.MatchString(logs) {
		t.Fatalf("the wipe of the corrupt state is not logged (want %q):\n%s", want, logs)
	}
}

// testRestoreAfter runs a counting pipeline, does lose to its state
// directory, and runs it again: the state is restored from the changelog.
// It returns the second run's log.
func testRestoreAfter(t *testing.T, lose func(t *testing.T, stateDir string)) string {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "in"), kfake.SeedTopics(3, "counts"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()[0]
	client, err := kgo.NewClient(kgo.SeedBrokers(brokers))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	const keys = 10
	produce := func(from, to int) {
		t.Helper()
		var recs []*kgo.Record
		for i := from; i < to; i++ {
			recs = append(recs, &kgo.Record{Topic: "in", Key: fmt.Appendf(nil, "k%d", i%keys), Value: []byte("x")})
		}
		if err := client.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	stateDir := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "counts.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
name: eos-restore
processing_guarantee: exactly_once
input:
  kafka: { brokers: [%[1]q], topics: [in], session_timeout: 6s }
pipeline:
  processors:
    - aggregate: { key: key, ops: { n: 'count()' }, emit: on_update }
    - map: { key: 'value.key', value: 'string(value.n)' }
output:
  kafka: { brokers: [%[1]q], topic: counts }
state: { dir: %[2]q }
http: { address: 127.0.0.1:0 }
`, brokers, stateDir)), 0o644); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(client)
	run := func(total int64, log io.Writer) string {
		t.Helper()
		ctx, stop := context.WithCancel(context.Background())
		addrs := make(chan net.Addr, 1)
		done := make(chan error, 1)
		go func() {
			done <- service.Run(ctx, service.Options{ConfigPath: cfg, LogOutput: log, HTTPListening: func(a net.Addr) { addrs <- a },
				Registry: engine.NewRegistry(inputs.Register, processors.Register, outputs.Register)})
		}()
		addr := <-addrs
		deadline := time.Now().Add(30 * time.Second)
		for {
			offsets, err := adm.FetchOffsets(context.Background(), "eos-restore")
			var n int64
			if err == nil {
				offsets.Each(func(o kadm.OffsetResponse) { n += o.At })
			}
			if n >= total {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("committed %d of %d input records in 30s", n, total)
			}
			time.Sleep(20 * time.Millisecond)
		}
		resp, err := http.Get("http://" + addr.String() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		metrics, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		stop()
		if err := <-done; err != nil {
			t.Fatalf("run: %v", err)
		}
		return string(metrics)
	}
	restored := regexp.MustCompile(`(?m)^pipeline_state_restored_records_total (\d+)$`)

	produce(0, 3000)
	first := run(3000, io.Discard)
	if m := restored.FindStringSubmatch(first); m == nil || m[1] != "0" {
		t.Fatalf("the first run restored %v records, want 0 (empty changelog)", m)
	}
	lose(t, stateDir)
	produce(3000, 4000)
	logs := &syncBuffer{}
	second := run(4000, logs)
	m := restored.FindStringSubmatch(second)
	if m == nil {
		t.Fatalf("no pipeline_state_restored_records_total in /metrics:\n%s", second)
	}
	if n, _ := strconv.Atoi(m[1]); n < keys {
		t.Fatalf("after the state directory was lost the run restored %v records, want at least one per key (%d)", m, keys)
	}

	reader, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.ConsumeTopics("counts"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	updates := map[string][]int{}
	total := 0
	for deadline := time.Now().Add(20 * time.Second); total < 4000 && time.Now().Before(deadline); {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		reader.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			n, _ := strconv.Atoi(string(r.Value))
			updates[string(r.Key)] = append(updates[string(r.Key)], n)
			total++
		})
		cancel()
	}
	for k, seq := range updates {
		for i, n := range seq {
			if n != i+1 {
				t.Fatalf("key %s: counts %v…, want 1, 2, 3, … (the restore lost or repeated state)", k, seq[:min(len(seq), i+3)])
			}
		}
		if len(seq) != 400 {
			t.Fatalf("key %s: %d updates, want 400", k, len(seq))
		}
	}
	if len(updates) != keys || !strings.Contains(second, "pipeline_state_restoring 0") {
		t.Fatalf("%d keys counted, want %d; restoring gauge: %v", len(updates), keys, regexp.MustCompile(`(?m)^pipeline_state_restoring.*$`).FindString(second))
	}
	t.Logf("state directory lost: %s changelog records restored; every key's counts are exactly 1..400", m[1])
	return logs.String()
}
