package nexmark

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/enginetest"
)

func newTestInput(t testing.TB, fields string) *Input {
	t.Helper()
	return enginetest.NewInput(t, Plugin(), "nx", fields).(*Input)
}

// event is one record as the tests look at it.
type event struct {
	offset, ts int64
	key        string
	value      map[string]any
}

func (e event) kind() string { return e.value["type"].(string) }
func (e event) int(field string) int64 {
	return e.value[field].(int64)
}
func (e event) str(field string) string { return e.value[field].(string) }

// readAll reads every record until io.EOF, checking what every batch and
// record must have.
func readAll(t *testing.T, in *Input) []event {
	t.Helper()
	var out []event
	for {
		b, err := in.Read(context.Background())
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if b.Partition != Partition || len(b.Records) == 0 || len(b.Records) > in.batchSize {
			t.Fatalf("batch of %d records in partition %q", len(b.Records), b.Partition)
		}
		last := b.Records[len(b.Records)-1].Offset
		if pos, err := b.Position.Int(positionField); err != nil || pos <= last {
			t.Fatalf("batch position %q, last offset %d", b.Position, last)
		}
		for _, r := range b.Records {
			if r.Source.Partition != Partition || r.Source.Input != "nx" {
				t.Fatalf("record %s: source %+v", r.Describe(), r.Source)
			}
			v, err := r.Value()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, event{offset: r.Offset, ts: r.Timestamp, key: string(r.Key), value: v.(map[string]any)})
		}
	}
}

func encode(t *testing.T, events []event) []string {
	t.Helper()
	out := make([]string, len(events))
	for i, e := range events {
		b, err := json.Marshal(e.value)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = strconv.FormatInt(e.offset, 10) + "@" + strconv.FormatInt(e.ts, 10) + " " + e.key + " " + string(b)
	}
	return out
}

func TestDeterministicBySeed(t *testing.T) {
	a := encode(t, readAll(t, newTestInput(t, `{count: 1000, batch_size: 100}`)))
	b := encode(t, readAll(t, newTestInput(t, `{count: 1000, seed: 1, batch_size: 7}`)))
	if len(a) != 1000 || !slices.Equal(a, b) {
		t.Fatalf("two runs with seed 1 differ (%d and %d events)", len(a), len(b))
	}
	c := encode(t, readAll(t, newTestInput(t, `{count: 1000, seed: 2}`)))
	differ := 0
	for i := range a {
		if a[i] != c[i] {
			differ++
		}
	}
	if differ < 990 {
		t.Fatalf("seeds 1 and 2 differ in only %d of 1000 events", differ)
	}
	// Any event can be made alone, in any order.
	g := NewGenerator(1, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(), 10000)
	for _, n := range []int64{999, 0, 517, 3, 4, 517} {
		v, key := g.Event(n)
		got := encode(t, []event{{offset: n, ts: g.Timestamp(n), key: strconv.FormatInt(key, 10), value: v}})[0]
		if got != a[n] {
			t.Fatalf("event %d made alone:\n%s\nin the stream:\n%s", n, got, a[n])
		}
	}
}

func TestProportions(t *testing.T) {
	events := readAll(t, newTestInput(t, `{count: 5000}`))
	counts := map[string]int{}
	for i, e := range events {
		if e.offset != int64(i) {
			t.Fatalf("event %d has offset %d", i, e.offset)
		}
		want := "bid"
		switch i % 50 {
		case 0:
			want = "person"
		case 1, 2, 3:
			want = "auction"
		}
		if e.kind() != want {
			t.Fatalf("event %d is a %s, want a %s", i, e.kind(), want)
		}
		counts[e.kind()]++
	}
	if counts["person"] != 100 || counts["auction"] != 300 || counts["bid"] != 4600 {
		t.Fatalf("counts %v, want 100 persons, 300 auctions, 4600 bids", counts)
	}
}

var (
	cardPattern = regexp.MustCompile(`^\d{4} \d{4} \d{4} \d{4}$`)
	// Random words, trimmed: no space at either end.
	wordsPattern = regexp.MustCompile(`^([a-z]([a-z ]*[a-z])?)?$`)
	emailPattern = regexp.MustCompile(`^([a-z]([a-z ]*[a-z])?)?@([a-z]([a-z ]*[a-z])?)?\.com$`)
	urlPattern   = regexp.MustCompile(`^https://www\.nexmark\.com/[a-z_]{3,4}/[a-z_]{3,4}/[a-z_]{3,4}/item\.htm\?query=1(&channel_id=\d+)?$`)
)

// TestReferencesAndFields checks every field of every type over 100 epochs:
// ids count up, bids and auctions refer only to what exists, values have
// the model's ranges and the hot auctions and bidders their share.
func TestReferencesAndFields(t *testing.T) {
	const count = 50 * 2000
	events := readAll(t, newTestInput(t, `{count: 100000}`))
	if len(events) != count {
		t.Fatalf("%d events, want %d", len(events), count)
	}
	fields := map[string][]string{
		"person":  {"city", "credit_card", "date_time", "email_address", "extra", "id", "name", "state", "type"},
		"auction": {"category", "date_time", "description", "expires", "extra", "id", "initial_bid", "item_name", "reserve", "seller", "type"},
		"bid":     {"auction", "bidder", "channel", "date_time", "extra", "price", "type", "url"},
	}
	lastPerson, lastAuction := int64(FirstPersonID-1), int64(FirstAuctionID-1)
	var hotAuction, hotBidder, hotSeller, bids, laterBids, auctions int
	channels := map[string]string{}
	checkPrice := func(e event, field string) {
		if p := e.int(field); p < 100 || p > 100_000_000 {
			t.Fatalf("event %d: %s %d is not from 100 to 100000000 cents", e.offset, field, p)
		}
	}
	for _, e := range events {
		keys := make([]string, 0, len(e.value))
		for k := range e.value {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, fields[e.kind()]) {
			t.Fatalf("event %d: %s fields %v, want %v", e.offset, e.kind(), keys, fields[e.kind()])
		}
		if e.int("date_time") != e.ts {
			t.Fatalf("event %d: date_time %d, record timestamp %d", e.offset, e.int("date_time"), e.ts)
		}
		switch e.kind() {
		case "person":
			id := e.int("id")
			if id != lastPerson+1 || e.key != strconv.FormatInt(id, 10) {
				t.Fatalf("event %d: person %d (key %q) after person %d", e.offset, id, e.key, lastPerson)
			}
			lastPerson = id
			first, last, _ := strings.Cut(e.str("name"), " ")
			if !slices.Contains(firstNames[:], first) || !slices.Contains(lastNames[:], last) {
				t.Fatalf("event %d: name %q", e.offset, e.str("name"))
			}
			if !slices.Contains(usCities[:], e.str("city")) || !slices.Contains(usStates[:], e.str("state")) {
				t.Fatalf("event %d: city %q, state %q", e.offset, e.str("city"), e.str("state"))
			}
			if !cardPattern.MatchString(e.str("credit_card")) || !emailPattern.MatchString(e.str("email_address")) {
				t.Fatalf("event %d: credit card %q, email %q", e.offset, e.str("credit_card"), e.str("email_address"))
			}
			if !regexp.MustCompile(`^[a-z]+$`).MatchString(e.str("extra")) {
				t.Fatalf("event %d: extra %q", e.offset, e.str("extra"))
			}
		case "auction":
			auctions++
			id, seller := e.int("id"), e.int("seller")
			if id != lastAuction+1 || e.key != strconv.FormatInt(id, 10) {
				t.Fatalf("event %d: auction %d (key %q) after auction %d", e.offset, id, e.key, lastAuction)
			}
			lastAuction = id
			if seller < FirstPersonID || seller > lastPerson {
				t.Fatalf("event %d: seller %d, the last person is %d", e.offset, seller, lastPerson)
			}
			if seller == (lastPerson-FirstPersonID)/100*100+FirstPersonID {
				hotSeller++
			}
			if c := e.value["category"].(int64); c < 10 || c > 14 {
				t.Fatalf("event %d: category %d", e.offset, c)
			}
			checkPrice(e, "initial_bid")
			if r := e.int("reserve"); r < e.int("initial_bid")+100 {
				t.Fatalf("event %d: reserve %d below initial bid %d + 100", e.offset, r, e.int("initial_bid"))
			}
			// 1666 events ahead is 166 ms at 10000 events/s: auctions last
			// from 1 ms to twice that.
			if d := e.int("expires") - e.ts; d < 1 || d > 333 {
				t.Fatalf("event %d: auction lasts %d ms", e.offset, d)
			}
			name, desc := e.str("item_name"), e.str("description")
			if !wordsPattern.MatchString(name) || len(name) > 19 || !wordsPattern.MatchString(desc) || len(desc) > 99 {
				t.Fatalf("event %d: item name %q, description %q", e.offset, name, desc)
			}
		case "bid":
			bids++
			auction, bidder := e.int("auction"), e.int("bidder")
			if auction < FirstAuctionID || auction > lastAuction || auction < lastAuction-numInFlightAuctions-hotBlock {
				t.Fatalf("event %d: bid for auction %d, the last auction is %d", e.offset, auction, lastAuction)
			}
			if bidder < FirstPersonID || bidder > lastPerson || bidder <= lastPerson-numActivePeople-hotBlock {
				t.Fatalf("event %d: bid by person %d, the last person is %d", e.offset, bidder, lastPerson)
			}
			if e.key != strconv.FormatInt(auction, 10) {
				t.Fatalf("event %d: key %q, auction %d", e.offset, e.key, auction)
			}
			if auction == (lastAuction-FirstAuctionID)/100*100+FirstAuctionID {
				hotAuction++
			}
			if lastPerson-FirstPersonID >= 100 {
				// Once the newest block has a second person.
				laterBids++
				if bidder == (lastPerson-FirstPersonID)/100*100+1+FirstPersonID {
					hotBidder++
				}
			}
			checkPrice(e, "price")
			if n := len(e.str("extra")); n < 54 || n > 81 {
				t.Fatalf("event %d: bid extra of %d bytes, want 68±14", e.offset, n)
			}
			ch, url := e.str("channel"), e.str("url")
			if !urlPattern.MatchString(url) || (!slices.Contains(hotChannels[:], ch) && !regexp.MustCompile(`^channel-\d{1,4}$`).MatchString(ch)) {
				t.Fatalf("event %d: channel %q, url %q", e.offset, ch, url)
			}
			if prev, ok := channels[ch]; ok && prev != url {
				t.Fatalf("channel %s has urls %q and %q", ch, prev, url)
			}
			channels[ch] = url
		}
	}
	// Half of the bids go to the hot auction, plus the cold ones that hit
	// it; three in four come from the hot bidder; three in four auctions
	// from the hot seller.
	share := func(n, of int) float64 { return float64(n) / float64(of) }
	if s := share(hotAuction, bids); s < 0.49 || s > 0.53 {
		t.Errorf("%.3f of bids go to the hot auction, want about 0.5", s)
	}
	if s := share(hotBidder, laterBids); s < 0.73 || s > 0.77 {
		t.Errorf("%.3f of bids come from the hot bidder, want about 0.75", s)
	}
	if s := share(hotSeller, auctions); s < 0.72 || s > 0.78 {
		t.Errorf("%.3f of auctions come from the hot seller, want about 0.75", s)
	}
	hot := 0
	for _, name := range hotChannels {
		if _, ok := channels[name]; ok {
			hot++
		}
	}
	if hot != 4 || len(channels) < 4000 {
		t.Errorf("%d hot channels and %d in all seen", hot, len(channels))
	}
}

func TestTimestamps(t *testing.T) {
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	for _, tt := range []struct {
		rate   int64
		fields string
	}{
		{10000, `{count: 5000}`},
		{3, `{count: 5000, events_per_second: 3}`},
		{1000, `{count: 5000, events_per_second: 1000, base_time: "2024-01-01T01:00:00+01:00"}`},
		{7777, `{count: 5000, events_per_second: 7777, types: [bid, auction]}`},
	} {
		events := readAll(t, newTestInput(t, tt.fields))
		for i, e := range events {
			if want := base + e.offset*1000/tt.rate; e.ts != want {
				t.Fatalf("%s: event %d at %d, want %d", tt.fields, e.offset, e.ts, want)
			}
			if i > 0 && e.ts < events[i-1].ts {
				t.Fatalf("%s: event %d at %d before the event before it (%d)", tt.fields, e.offset, e.ts, events[i-1].ts)
			}
		}
		// 4999 inter-event delays of 1000/rate ms, rounded down once.
		first, last := events[0], events[len(events)-1]
		spacing := float64(last.ts-first.ts) / float64(last.offset-first.offset)
		if want := 1000 / float64(tt.rate); spacing < want-1/float64(last.offset-first.offset) || spacing > want {
			t.Fatalf("%s: events %.4f ms apart on average, want %.4f", tt.fields, spacing, want)
		}
	}
}

func TestTypesKeepTheFullStream(t *testing.T) {
	all := readAll(t, newTestInput(t, `{count: 3000, seed: 9}`))
	for _, tt := range []struct {
		types string
		kinds []string
	}{
		{"[bid]", []string{"bid"}},
		{"[person, auction]", []string{"person", "auction"}},
		{"[auction]", []string{"auction"}},
		{"[bid, person, bid]", []string{"bid", "person"}},
	} {
		var want []event
		for _, e := range all {
			if slices.Contains(tt.kinds, e.kind()) {
				want = append(want, e)
			}
		}
		got := readAll(t, newTestInput(t, `{count: 3000, seed: 9, batch_size: 100, types: `+tt.types+`}`))
		if !slices.Equal(encode(t, got), encode(t, want)) {
			t.Fatalf("types %s: %d events differ from the %d of the full stream", tt.types, len(got), len(want))
		}
	}
}

func TestCountAndEnd(t *testing.T) {
	tests := []struct {
		fields string
		want   []string // per batch: position, then offsets
	}{
		{`{count: 5, batch_size: 2}`, []string{"2 0 1", "4 2 3", "5 4"}},
		{`{count: 120, types: [person]}`, []string{"120 0 50 100"}},
		{`{count: 120, types: [person], batch_size: 2}`, []string{"51 0 50", "120 100"}},
		{`{count: 49, types: [person], batch_size: 2}`, []string{"49 0"}},
		{`{count: 104, types: [auction], batch_size: 3}`, []string{"4 1 2 3", "54 51 52 53", "104 101 102 103"}},
		{`{count: 1, types: [bid]}`, nil},
	}
	for _, tt := range tests {
		in := newTestInput(t, tt.fields)
		var got []string
		for {
			b, err := in.Read(context.Background())
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			next, _ := b.Position.Int(positionField)
			s := strconv.FormatInt(next, 10)
			for _, r := range b.Records {
				s += " " + strconv.FormatInt(r.Offset, 10)
			}
			got = append(got, s)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: batches %q, want %q", tt.fields, got, tt.want)
		}
		for range 2 {
			if _, err := in.Read(context.Background()); err != io.EOF {
				t.Errorf("%s: Read after the end: %v, want io.EOF", tt.fields, err)
			}
		}
	}
}

func TestUnbounded(t *testing.T) {
	in := newTestInput(t, `{count: 0, batch_size: 500}`)
	for i := range 30 {
		b, err := in.Read(context.Background())
		if err != nil || len(b.Records) != 500 || !b.Position.Equal(engine.IntPosition(positionField, int64(500*(i+1)))) {
			t.Fatalf("batch %d: %d records, position %s, error %v", i, len(b.Records), b.Position, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := in.Read(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Read with a cancelled context: %v", err)
	}
}

func TestResume(t *testing.T) {
	all := encode(t, readAll(t, newTestInput(t, `{count: 2000}`)))
	in := newTestInput(t, `{count: 2000}`)
	if err := in.Resume([]engine.Checkpoint{{Partition: "other", Position: engine.IntPosition("next", -5)}, {Partition: Partition, Position: engine.IntPosition("next", 1234)}}); err != nil {
		t.Fatal(err)
	}
	if got := encode(t, readAll(t, in)); !slices.Equal(got, all[1234:]) {
		t.Fatalf("resumed at 1234: %d events, not the last %d of the stream", len(got), len(all)-1234)
	}
	for _, pos := range []engine.Position{engine.IntPosition("next", -1), engine.IntPosition("next", 2001),
		engine.Position{}.WithString("next", "abc"), engine.IntPosition("offset", 3), {}} {
		err := newTestInput(t, `{count: 2000}`).Resume([]engine.Checkpoint{{Partition: Partition, Position: pos}})
		if err == nil || !strings.Contains(err.Error(), "cannot resume from position "+pos.String()+": want \"next\"") {
			t.Errorf("resume from %s: %v", pos, err)
		}
	}
	if err := newTestInput(t, `{count: 2000}`).Resume([]engine.Checkpoint{{Partition: Partition, Position: engine.IntPosition("next", 2000)}}); err != nil {
		t.Errorf("resume at the end: %v", err)
	}
}

func TestRateLimit(t *testing.T) {
	in := newTestInput(t, `{count: 60, events_per_second: 500, rate_limit: true}`)
	start := time.Now()
	events := readAll(t, in)
	// Event 59 is due 59 × 2 ms after the first read.
	if d := time.Since(start); d < 110*time.Millisecond {
		t.Fatalf("60 events at 500/s took %s, want at least 118ms", d)
	}
	if len(events) != 60 || events[59].ts-events[0].ts != 118 {
		t.Fatalf("%d events, spanning %d ms of event time", len(events), events[len(events)-1].ts-events[0].ts)
	}

	in = newTestInput(t, `{count: 0, events_per_second: 1, rate_limit: true, types: [person]}`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if b, err := in.Read(ctx); err != nil || len(b.Records) != 1 {
		t.Fatalf("first read: %d records, %v", len(b.Records), err)
	}
	time.AfterFunc(20*time.Millisecond, cancel)
	start = time.Now()
	if _, err := in.Read(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Read: %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Read took %s to see the cancel", d)
	}
}

func BenchmarkNexmarkGenerate(b *testing.B) {
	in := newTestInput(b, `{count: 0}`)
	ctx := context.Background()
	b.ReportAllocs()
	n := 0
	for n < b.N {
		batch, err := in.Read(ctx)
		if err != nil {
			b.Fatal(err)
		}
		n += len(batch.Records)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
