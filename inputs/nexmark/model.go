package nexmark

import (
	"encoding/binary"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strconv"
)

// Kind is the type of a Nexmark event.
type Kind uint8

// The three event types.
const (
	Person Kind = iota
	Auction
	Bid
)

var kindNames = [...]string{Person: "person", Auction: "auction", Bid: "bid"}

// kindValues are the "type" field's values, boxed once.
var kindValues = [...]any{Person: "person", Auction: "auction", Bid: "bid"}

func (k Kind) String() string { return kindNames[k] }

// The model's constants, as in the reference generator (Beam's
// GeneratorConfig and NexmarkConfiguration defaults).
const (
	// Of every 50 events, 1 is a person, 3 are auctions and 46 are bids.
	personProportion  = 1
	auctionProportion = 3
	bidProportion     = 46
	totalProportion   = personProportion + auctionProportion + bidProportion

	// FirstPersonID and FirstAuctionID are the ids of the first person and
	// auction; ids count up from them by one per new person or auction.
	FirstPersonID  = 1000
	FirstAuctionID = 1000

	firstCategoryID = 10
	numCategories   = 5

	// A bid is for a hot auction with probability 1-1/hotAuctionRatio, by a
	// hot bidder with probability 1-1/hotBiddersRatio; an auction is by a
	// hot seller with probability 1-1/hotSellersRatio. The hot auction
	// (seller, bidder) is the first (first, second) of the newest block of
	// hotBlock auctions (persons).
	hotAuctionRatio = 2
	hotSellersRatio = 4
	hotBiddersRatio = 4
	hotBlock        = 100

	// Cold auctions are drawn from the newest numInFlightAuctions, cold
	// persons from the newest numActivePeople.
	numInFlightAuctions = 100
	numActivePeople     = 1000

	// The extra field pads events to these average sizes in bytes.
	avgPersonBytes  = 200
	avgAuctionBytes = 500
	avgBidBytes     = 100

	// Half of the bids come through one of the hot channels, the others
	// through one of numChannels.
	hotChannelsRatio = 2
	numChannels      = 10000

	minStringLength = 3
)

// KindOf is the type of event number n.
func KindOf(n int64) Kind {
	switch r := n % totalProportion; {
	case r < personProportion:
		return Person
	case r < personProportion+auctionProportion:
		return Auction
	}
	return Bid
}

// lastPerson is the base-0 id of the newest person at event n: the one event
// n makes if it is a person event.
func lastPerson(n int64) int64 {
	epoch, off := n/totalProportion, n%totalProportion
	if off >= personProportion {
		off = personProportion - 1
	}
	return epoch*personProportion + off
}

// lastAuction is the base-0 id of the newest auction at event n: the one
// event n makes if it is an auction event (-1 before the first auction).
func lastAuction(n int64) int64 {
	epoch, off := n/totalProportion, n%totalProportion
	switch {
	case off < personProportion:
		epoch--
		off = auctionProportion - 1
	case off >= personProportion+auctionProportion:
		off = auctionProportion - 1
	default:
		off -= personProportion
	}
	return epoch*auctionProportion + off
}

var (
	usStates    = [...]string{"AZ", "CA", "ID", "OR", "WA", "WY"}
	usCities    = [...]string{"Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"}
	firstNames  = [...]string{"Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"}
	lastNames   = [...]string{"Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"}
	hotChannels = [...]string{"Google", "Facebook", "Baidu", "Apple"}
)

// vocabulary holds the model's word lists boxed once, so that an event does
// not allocate for them.
type vocabulary struct {
	states, cities, names []any
	nameLens              []int
}

func newVocabulary() vocabulary {
	var v vocabulary
	for _, s := range usStates {
		v.states = append(v.states, s)
	}
	for _, s := range usCities {
		v.cities = append(v.cities, s)
	}
	for _, f := range firstNames {
		for _, l := range lastNames {
			v.names = append(v.names, f+" "+l)
			v.nameLens = append(v.nameLens, len(f)+1+len(l))
		}
	}
	return v
}

// Generator makes Nexmark events. Event n depends only on the seed, the base
// time, the rate and n: its random choices come from a PCG seeded with the
// seed and n, so any event can be made again on its own. A Generator is not
// safe for concurrent use.
type Generator struct {
	seed   uint64
	baseMs int64
	rate   int64
	rng    rand.PCG
	buf    []byte
	words  vocabulary

	// channels and hotURLs are made on first use, from their own random
	// stream so that they do not depend on which events came first.
	channels []channel
	hotURLs  []channel

	// The boxed values that repeat most: several events share a
	// millisecond, and most bids name the hot auction and hot bidder.
	// Boxes hold immutable values, so records may share them.
	time, hotAuction, hotBidder box
}

type channel struct{ name, url any }

// box is an int64 value boxed as an any, kept to be used again.
type box struct {
	v   int64
	any any
}

func (b *box) of(v int64) any {
	if b.any == nil || b.v != v {
		b.v, b.any = v, v
	}
	return b.any
}

// NewGenerator makes a generator of events whose event time starts at
// baseMs (milliseconds since the Unix epoch) and advances by
// 1000/eventsPerSecond ms per event; eventsPerSecond must be at least 1.
func NewGenerator(seed, baseMs, eventsPerSecond int64) *Generator {
	return &Generator{seed: uint64(seed), baseMs: baseMs, rate: eventsPerSecond, buf: make([]byte, 0, 512), words: newVocabulary()}
}

// Timestamp is the event time of event n in milliseconds: the base time plus
// n inter-event delays, rounded down.
func (g *Generator) Timestamp(n int64) int64 {
	return g.baseMs + (n/g.rate)*1000 + (n%g.rate)*1000/g.rate
}

// Event makes event n: its value, with the fields of its type and "type",
// and its natural key (a bid's auction, an auction's or person's id).
func (g *Generator) Event(n int64) (value map[string]any, key int64) {
	g.rng.Seed(mix(g.seed^0x6e65786d61726b00), mix(uint64(n)))
	g.buf = g.buf[:0]
	switch KindOf(n) {
	case Person:
		return g.person(n)
	case Auction:
		return g.auction(n)
	}
	return g.bid(n)
}

func (g *Generator) person(n int64) (map[string]any, int64) {
	id := lastPerson(n) + FirstPersonID
	ts := g.Timestamp(n)
	name := g.intn(uint64(len(g.words.names)))
	email := g.str(7)
	g.buf = append(g.buf, '@')
	g.str(5)
	g.buf = append(g.buf, ".com"...)
	email.end = len(g.buf)
	card := g.creditCard()
	city := g.intn(uint64(len(usCities)))
	state := g.intn(uint64(len(usStates)))
	size := 8 + g.words.nameLens[name] + email.len() + card.len() + len(usCities[city]) + len(usStates[state])
	extra := g.extra(size, avgPersonBytes)
	s := string(g.buf)
	return map[string]any{
		"type":          kindValues[Person],
		"id":            id,
		"name":          g.words.names[name],
		"email_address": email.of(s),
		"credit_card":   card.of(s),
		"city":          g.words.cities[city],
		"state":         g.words.states[state],
		"date_time":     g.time.of(ts),
		"extra":         extra.of(s),
	}, id
}

func (g *Generator) auction(n int64) (map[string]any, int64) {
	id := lastAuction(n) + FirstAuctionID
	ts := g.Timestamp(n)
	var seller int64
	if g.intn(hotSellersRatio) > 0 {
		seller = lastPerson(n) / hotBlock * hotBlock
	} else {
		seller = g.coldPerson(n)
	}
	seller += FirstPersonID
	category := firstCategoryID + int64(g.intn(numCategories))
	initialBid := g.price()
	// The auction lasts on average as long as it takes to make
	// numInFlightAuctions more auctions.
	horizon := g.Timestamp(n+numInFlightAuctions*totalProportion/auctionProportion) - ts
	expires := ts + 1 + int64(g.intn(uint64(max(2*horizon, 1))))
	name := g.str(20)
	desc := g.str(100)
	reserve := initialBid + g.price()
	extra := g.extra(8+name.len()+desc.len()+8+8+8+8+8, avgAuctionBytes)
	s := string(g.buf)
	return map[string]any{
		"type":        kindValues[Auction],
		"id":          id,
		"item_name":   name.of(s),
		"description": desc.of(s),
		"initial_bid": initialBid,
		"reserve":     reserve,
		"date_time":   g.time.of(ts),
		"expires":     expires,
		"seller":      seller,
		"category":    category,
		"extra":       extra.of(s),
	}, id
}

func (g *Generator) bid(n int64) (map[string]any, int64) {
	ts := g.Timestamp(n)
	var auction int64
	var auctionValue any
	if g.intn(hotAuctionRatio) > 0 {
		auction = lastAuction(n)/hotBlock*hotBlock + FirstAuctionID
		auctionValue = g.hotAuction.of(auction)
	} else {
		auction = g.coldAuction(n) + FirstAuctionID
		auctionValue = auction
	}
	var bidder any
	if g.intn(hotBiddersRatio) > 0 {
		// The second person of the block, so that hot bidders are not the
		// hot sellers; the first while the block has one person only.
		last := lastPerson(n)
		bidder = g.hotBidder.of(min(last/hotBlock*hotBlock+1, last) + FirstPersonID)
	} else {
		bidder = g.coldPerson(n) + FirstPersonID
	}
	price := g.price()
	var ch channel
	if g.intn(hotChannelsRatio) > 0 {
		ch = g.hotChannel(int(g.intn(uint64(len(hotChannels)))))
	} else {
		ch = g.channel(int(g.intn(numChannels)))
	}
	extra := g.extra(8+8+8+8, avgBidBytes)
	s := string(g.buf)
	return map[string]any{
		"type":      kindValues[Bid],
		"auction":   auctionValue,
		"bidder":    bidder,
		"price":     price,
		"channel":   ch.name,
		"url":       ch.url,
		"date_time": g.time.of(ts),
		"extra":     extra.of(s),
	}, auction
}

// coldPerson picks one of the newest numActivePeople persons. The reference
// model also picks up to 10 persons not made yet; this one picks only
// persons that exist.
func (g *Generator) coldPerson(n int64) int64 {
	people := lastPerson(n) + 1
	active := min(people, numActivePeople)
	return people - active + int64(g.intn(uint64(active)))
}

// coldAuction picks one of the auctions from numInFlightAuctions before the
// newest up to the newest. The reference model also picks up to 10 auctions
// not made yet; this one picks only auctions that exist.
func (g *Generator) coldAuction(n int64) int64 {
	last := lastAuction(n)
	first := max(last-numInFlightAuctions, 0)
	return first + int64(g.intn(uint64(last-first+1)))
}

// span is a piece of g.buf, and later of the event's one string.
type span struct{ start, end int }

func (s span) len() int { return s.end - s.start }

func (s span) of(str string) any {
	if s.start == s.end {
		return ""
	}
	return str[s.start:s.end]
}

// str appends a random string of 3 to maxLength-1 characters, lower-case
// letters with about one in 13 a space, trimmed of spaces at both ends.
func (g *Generator) str(maxLength int) span {
	size := minStringLength + int(g.intn(uint64(maxLength-minStringLength)))
	start := len(g.buf)
	for range size {
		// One draw: its high part picks space or letter, the rest the letter.
		space, rest := bits.Mul64(g.rng.Uint64(), 13)
		if space == 0 {
			g.buf = append(g.buf, ' ')
			continue
		}
		letter, _ := bits.Mul64(rest, 26)
		g.buf = append(g.buf, byte('a'+letter))
	}
	// Trim, moving the string to start so that what follows joins it.
	from, end := start, len(g.buf)
	for from < end && g.buf[from] == ' ' {
		from++
	}
	for end > from && g.buf[end-1] == ' ' {
		end--
	}
	g.buf = append(g.buf[:start], g.buf[from:end]...)
	return span{start, len(g.buf)}
}

// exact appends a random string of exactly size lower-case letters: eight
// from each random draw, a pair from each 16 bits of it.
func (g *Generator) exact(size int) span {
	start := len(g.buf)
	g.buf = slices.Grow(g.buf, size+8)[:start+size+8]
	b := g.buf[start:]
	for i := 0; i < size; i += 8 {
		x := g.rng.Uint64()
		w := uint64(letterPairs[(x&0xffff)*26*26>>16]) |
			uint64(letterPairs[(x>>16&0xffff)*26*26>>16])<<16 |
			uint64(letterPairs[(x>>32&0xffff)*26*26>>16])<<32 |
			uint64(letterPairs[(x>>48)*26*26>>16])<<48
		binary.LittleEndian.PutUint64(b[i:], w)
	}
	g.buf = g.buf[:start+size]
	return span{start, len(g.buf)}
}

// letterPairs holds every pair of lower-case letters, aa to zz, as the two
// bytes of a little-endian uint16.
var letterPairs = func() (p [26 * 26]uint16) {
	for i := range p {
		p[i] = uint16('a'+i/26) | uint16('a'+i%26)<<8
	}
	return p
}()

// extra appends padding that brings an event of size bytes to avg bytes on
// average: avg-size, ±20%.
func (g *Generator) extra(size, avg int) span {
	if size > avg {
		return span{len(g.buf), len(g.buf)}
	}
	want := avg - size
	delta := int(math.Round(float64(want) * 0.2))
	n := want - delta
	if delta > 0 {
		n += int(g.intn(uint64(2 * delta)))
	}
	return g.exact(n)
}

// creditCard appends four groups of four digits separated by spaces.
func (g *Generator) creditCard() span {
	start := len(g.buf)
	for i := range 4 {
		if i > 0 {
			g.buf = append(g.buf, ' ')
		}
		v := g.intn(10000)
		g.buf = append(g.buf, byte('0'+v/1000), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
	}
	return span{start, len(g.buf)}
}

// price is a price in cents, from 1.00 to 1,000,000.00, log-uniform: as many
// between 1 and 10 as between 100,000 and 1,000,000.
func (g *Generator) price() int64 {
	return int64(math.Round(math.Exp(g.float()*6*math.Ln10) * 100))
}

func (g *Generator) hotChannel(i int) channel {
	if g.hotURLs == nil {
		g.hotURLs = make([]channel, len(hotChannels))
		for j, name := range hotChannels {
			var r rand.PCG
			r.Seed(mix(g.seed^0x686f74), mix(uint64(j)))
			g.hotURLs[j] = channel{name: name, url: baseURL(&r, make([]byte, 0, 64))}
		}
	}
	return g.hotURLs[i]
}

// channel is channel i ("channel-i") with its URL, which mostly names the
// channel too.
func (g *Generator) channel(i int) channel {
	if g.channels == nil {
		g.channels = make([]channel, numChannels)
	}
	c := &g.channels[i]
	if c.name == nil {
		var r rand.PCG
		r.Seed(mix(g.seed^0x6368616e6e656c), mix(uint64(i)))
		url := []byte(baseURL(&r, make([]byte, 0, 96)))
		if hi, _ := bits.Mul64(r.Uint64(), 10); hi > 0 {
			url = append(url, "&channel_id="...)
			// The bit-reversed channel number, as a non-negative int32 would show it.
			id := int64(int32(bits.Reverse32(uint32(i))))
			url = strconv.AppendInt(url, max(id, -id), 10)
		}
		*c = channel{name: "channel-" + strconv.Itoa(i), url: string(url)}
	}
	return *c
}

// baseURL is https://www.nexmark.com/a/b/c/item.htm?query=1 with short random
// path segments.
func baseURL(r *rand.PCG, b []byte) string {
	b = append(b, "https://www.nexmark.com/"...)
	for range 3 {
		size := minStringLength + int(uniform(r.Uint64(), 5-minStringLength))
		for range size {
			if uniform(r.Uint64(), 13) == 0 {
				b = append(b, '_')
			} else {
				b = append(b, byte('a'+uniform(r.Uint64(), 26)))
			}
		}
		b = append(b, '/')
	}
	b = append(b, "item.htm?query=1"...)
	return string(b)
}

// intn is uniform in [0, n), n > 0.
func (g *Generator) intn(n uint64) uint64 { return uniform(g.rng.Uint64(), n) }

// float is uniform in [0, 1).
func (g *Generator) float() float64 { return float64(g.rng.Uint64()>>11) * 0x1p-53 }

// uniform maps a random 64-bit x to [0, n) by multiplication (Lemire); the
// bias, at most n/2^64, does not matter here.
func uniform(x, n uint64) uint64 {
	hi, _ := bits.Mul64(x, n)
	return hi
}

// mix is SplitMix64's finalizer: neighbouring event numbers get unrelated
// PCG seeds.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
