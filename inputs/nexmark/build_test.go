package nexmark_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/enginetest"
	"github.com/pipelinehq/pipeline/inputs"
	"github.com/pipelinehq/pipeline/inputs/nexmark"
	"github.com/pipelinehq/pipeline/outputs"
)

func run(t *testing.T, yaml string) {
	t.Helper()
	if err := enginetest.Run(t, 60*time.Second, yaml, inputs.Register, outputs.Register); err != nil {
		t.Fatal(err)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct{ input, want string }{
		{`nexmark: {base_time: yesterday}`, `t.yaml:2:24: input.nexmark.base_time: want an RFC 3339 time such as 2024-01-01T00:00:00Z, got "yesterday"`},
		{`nexmark: {count: -1}`, "t.yaml:2:20: input.nexmark.count: must be 0 (without end) or more, got -1"},
		{`nexmark: {events_per_second: 0}`, "t.yaml:2:32: input.nexmark.events_per_second: must be from 1 to 1000000000, got 0"},
		{`nexmark: {batch_size: 0}`, "t.yaml:2:25: input.nexmark.batch_size: must be at least 1, got 0"},
		{`nexmark: {types: [bid, bids]}`, `t.yaml:2:26: input.nexmark.types.1: "bids" is not one of person, auction, bid, did you mean "bid"?`},
		{`nexmark: {types: []}`, "t.yaml:2:20: input.nexmark.types: must name at least one of person, auction, bid"},
		{`nexmark: {seed: x}`, `t.yaml:2:19: input.nexmark.seed: want an integer, got "x"`},
		{"nexmark:\n    count: -1\n    base_time: '2024-13-01T00:00:00Z'",
			"t.yaml:3:12: input.nexmark.count: must be 0 (without end) or more, got -1\n" +
				`t.yaml:4:16: input.nexmark.base_time: want an RFC 3339 time such as 2024-01-01T00:00:00Z, got "2024-13-01T00:00:00Z"`},
	}
	for _, tt := range tests {
		_, err := enginetest.Build(t, "input:\n  "+tt.input+"\noutput:\n  drop: {}\n", inputs.Register, outputs.Register)
		if err == nil || err.Error() != tt.want {
			t.Errorf("error:\n%v\nwant:\n%s", err, tt.want)
		}
	}
}

func TestPipelineNexmarkToDrop(t *testing.T) {
	run(t, "input:\n  nexmark: {count: 100000}\noutput:\n  drop: {}\n")
}

func TestPipelineNexmarkToFile(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.jsonl")
	run(t, fmt.Sprintf("input:\n  nexmark: {count: 5000, batch_size: 300, types: [bid, person]}\noutput:\n  file: {path: %q, codec: json_lines}\n", out))
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	counts := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var v struct {
			Type     string `json:"type"`
			DateTime int64  `json:"date_time"`
		}
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil || v.DateTime < 1704067200000 {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		counts[v.Type]++
	}
	if counts["bid"] != 4600 || counts["person"] != 100 || len(counts) != 2 {
		t.Fatalf("written: %v, want 4600 bids and 100 persons", counts)
	}
}

func TestPipelineStopsUnboundedNexmark(t *testing.T) {
	err := enginetest.Run(t, 100*time.Millisecond, "input:\n  nexmark: {count: 0, rate_limit: true, events_per_second: 1000}\noutput:\n  drop: {}\n", inputs.Register, outputs.Register)
	if err != nil {
		t.Fatalf("a stopped run: %v", err)
	}
}

func TestSpecExampleBuilds(t *testing.T) {
	enginetest.CheckInputSpec(t, nexmark.Plugin().Spec, inputs.Register, outputs.Register)
}

// BenchmarkPipelineNexmarkToDrop is the floor under the Nexmark query
// benchmarks: events made and dropped through the whole runner.
func BenchmarkPipelineNexmarkToDrop(b *testing.B) {
	const events = 1_000_000
	doc, err := config.Load("t.yaml", []byte(fmt.Sprintf("input:\n  nexmark: {count: %d}\noutput:\n  drop: {}\n", events)), config.LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	reg := engine.NewRegistry(inputs.Register, outputs.Register)
	for b.Loop() {
		p, err := engine.Build(doc, reg, engine.BuildOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Run(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
