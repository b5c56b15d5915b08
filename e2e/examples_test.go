package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// exampleChecks runs every example in pipelines/ and checks what it wrote.
// A new example without an entry here fails TestEveryExampleIsRun.
var exampleChecks = map[string]func(t *testing.T, file string){
	"orders.yaml":            checkOrdersExample,
	"heartbeat.yaml":         checkHeartbeatExample,
	"wordcount.yaml":         checkWordcountExample,
	"text-analysis.yaml":     checkTextAnalysisExample,
	"nexmark-q1.yaml":        checkNexmarkQ1,
	"nexmark-q2.yaml":        checkNexmarkQ2,
	"nexmark-q5.yaml":        checkNexmarkQ5,
	"nexmark-q7.yaml":        checkNexmarkQ7,
	"nexmark-q8.yaml":        checkNexmarkQ8,
	"wordcount-kafka.yaml":   checkWordcountKafkaExample,
	"orders-enrich.yaml":     checkOrdersEnrichExample,
	"mysql-orders.yaml":      checkMySQLOrdersExample,
	"postgres-orders.yaml":   checkPostgresOrdersExample,
	"kafka-to-postgres.yaml": checkKafkaToPostgresExample,
	"postgres-cdc.yaml":      checkPostgresCDCExample,
	"mysql-cdc.yaml":         checkMySQLCDCExample,
	"cdc-enrich.yaml":        checkCDCEnrichExample,
}

func TestEveryExampleIsRun(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot, "pipelines", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		check, ok := exampleChecks[name]
		if !ok {
			t.Errorf("pipelines/%s has no check in e2e/examples_test.go", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			rel := filepath.Join("pipelines", name)
			head, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(head), "# yaml-language-server: $schema=../schema/pipeline.schema.json\n") {
				t.Errorf("%s must start with the yaml-language-server schema modeline", rel)
			}
			if _, stderr, code := runPipeline(t, nil, "lint", rel); code != 0 {
				t.Fatalf("lint %s: exit %d\n%s", rel, code, stderr)
			}
			check(t, rel)
		})
	}
}

func checkOrdersExample(t *testing.T, file string) {
	out := t.TempDir()
	// A state.dir of its own: the file input's position is kept there, and
	// one left in state/orders by an earlier run would resume at the end.
	stdout, stderr, code := runPipeline(t, []string{"OUT_DIR=" + out}, "run", "-c", file, "-s", "http.enabled=false", "-s", "state.dir="+t.TempDir())
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	wantMain := `{"customer":"ada","id":1,"price":12.5,"qty":2,"total":25}
{"customer":"ada","id":5,"price":9.99,"qty":1,"total":9.99}
`
	if stdout != wantMain {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, wantMain)
	}
	large, _ := os.ReadFile(filepath.Join(out, "large-orders.jsonl"))
	wantLarge := `{"customer":"grace","id":3,"price":40,"qty":3,"total":120}
{"customer":"ken","id":7,"price":250,"qty":1,"total":250}
`
	if string(large) != wantLarge {
		t.Errorf("large orders:\n%s\nwant:\n%s", large, wantLarge)
	}
	dlq, _ := os.ReadFile(filepath.Join(out, "orders-dead-letter.jsonl"))
	lines := strings.Split(strings.TrimSpace(string(dlq)), "\n")
	if len(lines) != 2 {
		t.Fatalf("dead letters: want 2 lines, got:\n%s", dlq)
	}
	type envelope struct {
		Value   string            `json:"value"`
		Headers map[string]string `json:"headers"`
	}
	var got []envelope
	for _, l := range lines {
		var e envelope
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("dead letter %q: %v", l, err)
		}
		got = append(got, e)
	}
	sort.Slice(got, func(i, j int) bool { return got[i].Headers["error_source"] < got[j].Headers["error_source"] })
	if got[0].Value != `{"id":4,"customer":"linus","price":"n/a","qty":1}` ||
		got[0].Headers["error_source"] != "record at pipelines/data/orders.jsonl:4" ||
		got[0].Headers["error_component"] != "pipeline.processors.0" ||
		!strings.Contains(got[0].Headers["error"], "value.price * value.qty") {
		t.Errorf("dead letter for the string price: %+v", got[0])
	}
	if got[1].Value != `{"id":6, "customer": broken` ||
		got[1].Headers["error_source"] != "record at pipelines/data/orders.jsonl:6" ||
		!strings.Contains(got[1].Headers["error"], "not valid JSON") {
		t.Errorf("dead letter for the broken line: %+v", got[1])
	}
}

func checkHeartbeatExample(t *testing.T, file string) {
	stdout, stderr, code := runPipeline(t, []string{"SERVICE=billing"}, "run", "-c", file,
		"-s", "http.enabled=false", "-s", "input.generate.count=7", "-s", "input.generate.interval=1ms", "-s", "state.dir="+t.TempDir())
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	want := `{"seq":0,"service":"billing","status":"ok"}
{"seq":2,"service":"billing","status":"ok"}
{"seq":4,"service":"billing","status":"ok"}
{"seq":6,"service":"billing","status":"ok"}
`
	if stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
	}
}
