package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/inputs/nexmark"
)

// The Nexmark examples are checked against the queries computed here by
// hand over the same generated events (the pipelines' defaults: seed 1,
// 10000 events/s from 2024-01-01).

const nexmarkEvents = 200000

type bid struct {
	auction, bidder, price, ts int64
}

func nexmarkBids(t *testing.T) []bid {
	t.Helper()
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	gen := nexmark.NewGenerator(1, base, 10000)
	var bids []bid
	for n := int64(0); n < nexmarkEvents; n++ {
		if nexmark.KindOf(n) != nexmark.Bid {
			continue
		}
		v, _ := gen.Event(n)
		bids = append(bids, bid{v["auction"].(int64), v["bidder"].(int64), v["price"].(int64), v["date_time"].(int64)})
	}
	return bids
}

func runQuery(t *testing.T, file string) []map[string]float64 {
	t.Helper()
	stdout, stderr, code := runPipeline(t, nil, "run", "-c", file, "-s", fmt.Sprintf("input.nexmark.count=%d", nexmarkEvents), "-s", "state.dir="+t.TempDir())
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var rows []map[string]float64
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if line == "" {
			continue
		}
		var row map[string]float64
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatalf("output line %q: %v", line, err)
		}
		rows = append(rows, row)
	}
	return rows
}

func checkNexmarkQ1(t *testing.T, file string) {
	bids := nexmarkBids(t)
	rows := runQuery(t, file)
	if len(rows) != len(bids) {
		t.Fatalf("%d rows, want one per bid: %d", len(rows), len(bids))
	}
	for i, b := range bids {
		r := rows[i]
		if r["auction"] != float64(b.auction) || r["bidder"] != float64(b.bidder) || r["date_time"] != float64(b.ts) ||
			math.Abs(r["price"]-0.908*float64(b.price)) > 1e-6 {
			t.Fatalf("row %d is %v, want bid %+v converted", i, r, b)
		}
	}
}

func checkNexmarkQ2(t *testing.T, file string) {
	var want []string
	for _, b := range nexmarkBids(t) {
		if b.auction%123 == 0 {
			want = append(want, fmt.Sprintf("%d:%d", b.auction, b.price))
		}
	}
	var got []string
	for _, r := range runQuery(t, file) {
		got = append(got, fmt.Sprintf("%.0f:%.0f", r["auction"], r["price"]))
	}
	if len(want) == 0 || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("got %d rows, want %d: %v\nwant %v", len(got), len(want), got, want)
	}
}

func checkNexmarkQ5(t *testing.T, file string) {
	bids := nexmarkBids(t)
	const size, advance = 10000, 2000
	counts := map[int64]map[int64]int64{} // window start → auction → bids
	var streamTime int64 = math.MinInt64
	for _, b := range bids {
		streamTime = max(streamTime, b.ts)
		first := (b.ts-size)/advance*advance + advance
		for start := first; start <= b.ts; start += advance {
			if counts[start] == nil {
				counts[start] = map[int64]int64{}
			}
			counts[start][b.auction]++
		}
	}
	// Windows close once stream time reaches their end (no grace), as in
	// Kafka Streams; the second stage's 2 s windows close once its stream
	// time (the latest closed end) reaches theirs.
	var closedEnds []int64
	for start := range counts {
		if start+size <= streamTime {
			closedEnds = append(closedEnds, start+size)
		}
	}
	sort.Slice(closedEnds, func(i, j int) bool { return closedEnds[i] < closedEnds[j] })
	last := closedEnds[len(closedEnds)-1]
	var want []string
	for _, end := range closedEnds {
		if end+advance > last {
			continue
		}
		start := end - size
		// On a tie the first in key order wins: keys are compared as text.
		var best int64 = -1
		for auction, n := range counts[start] {
			if best < 0 || n > counts[start][best] || (n == counts[start][best] && strconv.FormatInt(auction, 10) < strconv.FormatInt(best, 10)) {
				best = auction
			}
		}
		want = append(want, fmt.Sprintf("[%d,%d) %d:%d", start, end, best, counts[start][best]))
	}
	var got []string
	for _, r := range runQuery(t, file) {
		got = append(got, fmt.Sprintf("[%.0f,%.0f) %.0f:%.0f", r["window_start"], r["window_end"], r["auction"], r["bids"]))
	}
	if len(want) == 0 || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func checkNexmarkQ7(t *testing.T, file string) {
	bids := nexmarkBids(t)
	const size = 10000
	highest := map[int64]bid{}
	var streamTime int64 = math.MinInt64
	for _, b := range bids {
		streamTime = max(streamTime, b.ts)
		start := b.ts / size * size
		if h, ok := highest[start]; !ok || b.price > h.price {
			highest[start] = b
		}
	}
	var starts []int64
	for s := range highest {
		if s+size <= streamTime { // closed: stream time reached its end
			starts = append(starts, s)
		}
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
	var want []string
	for _, s := range starts {
		h := highest[s]
		want = append(want, fmt.Sprintf("[%d,%d) %d %d %d", s, s+size, h.auction, h.bidder, h.price))
	}
	var got []string
	for _, r := range runQuery(t, file) {
		got = append(got, fmt.Sprintf("[%.0f,%.0f) %.0f %.0f %.0f", r["window_start"], r["window_end"], r["auction"], r["bidder"], r["price"]))
	}
	if len(want) == 0 || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// checkNexmarkQ8: every (person, auction) pair whose auction the person
// opened 0 to 2 s after registering, computed over the generated events.
func checkNexmarkQ8(t *testing.T, file string) {
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	gen := nexmark.NewGenerator(1, base, 10000)
	registered := map[int64]int64{} // person → date_time
	var want []string
	auctions := 0
	for n := int64(0); n < nexmarkEvents; n++ {
		kind := nexmark.KindOf(n)
		if kind == nexmark.Bid {
			continue
		}
		v, _ := gen.Event(n)
		ts := v["date_time"].(int64)
		if kind == nexmark.Person {
			registered[v["id"].(int64)] = ts
			continue
		}
		auctions++
		if at, ok := registered[v["seller"].(int64)]; ok && ts-at >= 0 && ts-at <= 2000 {
			want = append(want, fmt.Sprintf("%d@%d:%d@%d", v["seller"], at, v["id"], ts))
		}
	}
	stdout, stderr, code := runPipeline(t, nil, "run", "-c", file, "-s", fmt.Sprintf("input.nexmark.count=%d", nexmarkEvents), "-s", "state.dir="+t.TempDir())
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var r struct {
			Person, Registered, Auction, Opened int64
			Name, Item                          string
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil || r.Name == "" || r.Item == "" {
			t.Fatalf("output line %q: %v (want a person's name and an item)", line, err)
		}
		got = append(got, fmt.Sprintf("%d@%d:%d@%d", r.Person, r.Registered, r.Auction, r.Opened))
	}
	sort.Strings(want)
	sort.Strings(got)
	if len(want) < 100 || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got %d pairs, want %d (at least 100)\ngot:  %.400v\nwant: %.400v", len(got), len(want), got, want)
	}
	t.Logf("%d pairs of a person and an auction they opened within 2 s (of %d auctions)", len(want), auctions)
}
