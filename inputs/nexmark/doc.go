// Package nexmark is the nexmark input: the Nexmark benchmark's person,
// auction and bid events, made by the benchmark's generator model (as in
// Apache Beam's and Flink's NexmarkGenerator) and fully determined by a seed.
//
// Events are numbered from 0. Of every 50 events, 1 is a person, 3 are
// auctions and 46 are bids; a person's or auction's id is the count of
// persons or auctions before it plus 1000, so ids follow from the event
// number. Half of the bids go to the hot auction (the first of the newest
// block of 100 auctions), the rest to one of the 101 newest auctions; three
// in four come from the hot bidder (the second person of the newest block of
// 100), the rest from one of the 1000 newest persons; auctions' sellers are
// chosen alike. Names, cities, states, e-mail addresses, credit cards,
// categories, log-uniform prices, auction lengths, channels, URLs and extra
// padding to 200/500/100 bytes follow the model too. Event n has the event
// time base_time + n × 1000/events_per_second ms, never the wall clock.
//
// Each event's random choices come from a math/rand/v2 PCG seeded with the
// seed and the event number (Beam seeds a Random per event alike), so any
// event can be made alone: a filtered stream keeps the full stream's ids and
// times, and a resumed input carries on exactly.
//
// Where it differs from the reference model: the model lets cold bids,
// sellers and bidders name up to 10 auctions or persons not made yet (and the
// hot bidder may be one not made yet); here every reference is to an auction
// or person already made. The random streams are PCG's, not java.util.Random's,
// so the values are not those of Beam or Flink, only their distributions. The
// out-of-order groups and rate shapes (sine, square) of the model are left out.
//
// It owns its spec and constructor. It imports engine and config (and the
// inputs' internal record allocator); never another component.
package nexmark
