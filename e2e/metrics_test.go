package e2e

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/inputs"
	"github.com/pipelinehq/pipeline/outputs"
	"github.com/pipelinehq/pipeline/processors"
)

// TestTextAnalysisCounters runs the text-analysis example and reads its
// exported counters: processed messages, and suspicious words by reason.
func TestTextAnalysisCounters(t *testing.T) {
	doc, err := config.LoadFile(filepath.Join(repoRoot, "pipelines", "text-analysis.yaml"), config.LoadOptions{
		Overrides: []string{
			"input.file.paths.0=" + filepath.Join(repoRoot, "pipelines", "data", "messages.txt"),
			"state.dir=" + t.TempDir(),
			"outputs.suspicious.file.path=" + filepath.Join(t.TempDir(), "suspicious.jsonl"),
			"output={drop: {}}",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	p, err := engine.Build(doc, engine.NewRegistry(inputs.Register, processors.Register, outputs.Register),
		engine.BuildOptions{Metrics: engine.NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	received := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "pipeline_component_received_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			received[label(m, "label")] = m.GetCounter().GetValue()
		}
	}
	for name, want := range map[string]float64{"messages": 5, "word_too_long": 1, "suspicious_numeric_pattern": 4} {
		if received[name] != want {
			t.Errorf("received{label=%q} = %v, want %v (all: %v)", name, received[name], want, received)
		}
	}
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
