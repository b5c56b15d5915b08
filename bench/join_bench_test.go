package bench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkJoin (issue 12, item 6): a stream of 1M records joined with a
// table of 1M rows (the join processor, a table read whole), against the
// same pipeline with a bare map in place of the join, in the same run, and
// against a hand-written Go loop looking the rows up in a Go map. Twice: a
// state cache large enough for the table (held in memory), and one far
// smaller (the lookups go to Badger's files). The figures are taken from
// the pipelines' logs: the bare map from start to stop, the join from its
// table being loaded to the stop (its stream alone), and the load itself;
// the target is a stream throughput at least 0.7× the bare map's.
//
// Both pipelines end in a filter that lets through only a wrong result (a
// row whose tier is not the one its customer has, or none), so an empty
// output shows every record was joined right.
func BenchmarkJoin(b *testing.B) {
	const records, rows = 1_000_000, 1_000_000
	dir := b.TempDir()
	stream := fmt.Sprintf(`{generate: {value: '{"id": meta.offset, "c": (meta.offset * 7919) %% %d}', count: %d, batch_size: 1024}}`, rows, records)
	tail := `    - filter: 'value.t != value.c % 7'
output: {stdout: {codec: json_lines}}
http: {enabled: false}
`
	mapCfg := filepath.Join(dir, "map.yaml")
	writeFile(b, mapCfg, fmt.Sprintf("input: %s\npipeline:\n  processors:\n    - map: {value: '{\"o\": value.id, \"c\": value.c, \"t\": value.c %% 7}'}\n%s", stream, tail))
	joinCfg := filepath.Join(dir, "join.yaml")
	writeFile(b, joinCfg, fmt.Sprintf(`input: %s
pipeline:
  processors:
    - join:
        table: {generate: {value: '{"tier": meta.offset %% 7}', key: 'meta.offset', count: %d, batch_size: 1024}}
        key: value.c
        type: left
        value: '{"o": value.id, "c": value.c, "t": table?.tier}'
%s`, stream, rows, tail))

	for i := 0; i < b.N; i++ {
		runtime.GC()
		start := time.Now()
		handJoin(records, rows)
		baseline := time.Since(start)

		// The map and the in-memory join run in turns, five times each, and
		// the medians are compared: one run of either varies by a fifth on
		// this machine (the collector's timing, the other core's work).
		var mapTimes, joinTimes, loadTimes []time.Duration
		var mapRSS, joinRSS float64
		for range joinRounds {
			bare := runBinary(b, nil, "run", "-c", mapCfg, "-s", "state.dir="+b.TempDir())
			requireEmpty(b, "map", bare)
			mapTimes = append(mapTimes, logGap(b, bare.stderr, "pipeline starting", "pipeline stopped"))
			mapRSS = max(mapRSS, bare.rssMiB)
			res := runBinary(b, nil, "run", "-c", joinCfg, "-s", "state.dir="+b.TempDir(), "-s", "state.cache_size=1GiB")
			requireEmpty(b, "join", res)
			loadTimes = append(loadTimes, logGap(b, res.stderr, "pipeline starting", "the join's table is loaded"))
			joinTimes = append(joinTimes, logGap(b, res.stderr, "the join's table is loaded", "pipeline stopped"))
			joinRSS = max(joinRSS, res.rssMiB)
		}
		bareStream, stream := medianTime(mapTimes), medianTime(joinTimes)
		fmt.Fprintf(benchOut, "join baseline: bare map over %d records, median of %d runs %.2fs from start to stop (%.0f records/s; runs %s; peak RSS %.0f MiB); hand-written Go map join %.2fs\n",
			records, joinRounds, bareStream.Seconds(), records/bareStream.Seconds(), seconds(mapTimes), mapRSS, baseline.Seconds())
		ratio := bareStream.Seconds() / stream.Seconds()
		b.ReportMetric(ratio, "x_map_throughput_1GiB")
		fmt.Fprintf(benchOut, "join, table in memory (cache_size 1GiB): loading the table %.2fs (median); then the stream, median of %d runs %.2fs (runs %s), %.0f records/s, %.2fx the bare map's median (target ≥ 0.7x); peak RSS %.0f MiB\n",
			medianTime(loadTimes).Seconds(), joinRounds, stream.Seconds(), seconds(joinTimes), records/stream.Seconds(), ratio, joinRSS)

		res := runBinary(b, nil, "run", "-c", joinCfg, "-s", "state.dir="+b.TempDir(), "-s", "state.cache_size=16MiB")
		requireEmpty(b, "join", res)
		load := logGap(b, res.stderr, "pipeline starting", "the join's table is loaded")
		spilled := logGap(b, res.stderr, "the join's table is loaded", "pipeline stopped")
		ratio = bareStream.Seconds() / spilled.Seconds()
		b.ReportMetric(ratio, "x_map_throughput_16MiB")
		fmt.Fprintf(benchOut, "join, table larger than state.cache_size (cache_size 16MiB), one run: loading the table %.2fs; then the stream %.2fs, %.0f records/s, %.2fx the bare map's median (reported); peak RSS %.0f MiB\n",
			load.Seconds(), spilled.Seconds(), records/spilled.Seconds(), ratio, res.rssMiB)
	}
}

// joinRounds is how many times the map and the in-memory join run.
const joinRounds = 5

func medianTime(ds []time.Duration) time.Duration {
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	return sorted[len(sorted)/2]
}

func seconds(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = strconv.FormatFloat(d.Seconds(), 'f', 2, 64)
	}
	return strings.Join(parts, " ")
}

// handJoin is the baseline: the table in a Go map, each stream record
// looked up and its result encoded.
func handJoin(records, rows int) {
	table := make(map[string][]byte, rows)
	for n := range rows {
		table[strconv.Itoa(n)] = []byte(fmt.Sprintf(`{"tier":%d}`, n%7))
	}
	var out bytes.Buffer
	for n := range records {
		c := (n * 7919) % rows
		row := table[strconv.Itoa(c)]
		out.Reset()
		fmt.Fprintf(&out, `{"o":%d,"c":%d,"t":%s}`, n, c, row[len(`{"tier":`):len(row)-1])
	}
}

// logGap is the time between the first log lines with the two messages
// (the text log's time= fields).
func logGap(b *testing.B, stderr []byte, from, to string) time.Duration {
	at := func(msg string) time.Time {
		m := regexp.MustCompile(`time=(\S+) level=\S+ msg="` + regexp.QuoteMeta(msg) + `"`).FindSubmatch(stderr)
		if m == nil {
			b.Fatalf("no log line %q:\n%s", msg, stderr)
		}
		t, err := time.Parse(time.RFC3339Nano, string(m[1]))
		if err != nil {
			b.Fatal(err)
		}
		return t
	}
	return at(to).Sub(at(from))
}

func requireEmpty(b *testing.B, what string, res runResult) {
	if out := bytes.TrimSpace(res.stdout); len(out) > 0 {
		b.Fatalf("%s: wrong results: %.300s", what, out)
	}
}

func writeFile(b *testing.B, path, text string) {
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		b.Fatal(err)
	}
}
