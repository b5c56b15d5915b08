package nexmark_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/engine/conformance"
	"github.com/pipelinehq/pipeline/engine/enginetest"
	"github.com/pipelinehq/pipeline/inputs/nexmark"
)

// TestConformance: nexmark makes events of its own, so a source of n
// records is the first n events, as the generator makes them.
func TestConformance(t *testing.T) {
	const seed, rate, base = 7, 1000, "2024-06-01T00:00:00Z"
	conformance.TestInput(t, conformance.InputHarness{
		Bounded:      true,
		NoTombstones: "every event is an object: nexmark makes no record without a value",
		Source: func(t *testing.T) conformance.InputSource {
			count := 0
			return conformance.InputSource{
				Put: func(t *testing.T, recs []conformance.Record) []conformance.Record {
					count = len(recs)
					baseTime, err := time.Parse(time.RFC3339, base)
					if err != nil {
						t.Fatal(err)
					}
					gen := nexmark.NewGenerator(seed, baseTime.UnixMilli(), rate)
					events := make([]conformance.Record, count)
					for n := range events {
						value, key := gen.Event(int64(n))
						v, err := engine.EncodeValue(value)
						if err != nil {
							t.Fatal(err)
						}
						events[n] = conformance.Record{Key: fmt.Append(nil, key), Value: v}
					}
					return events
				},
				New: func(t *testing.T) engine.Input {
					fields := fmt.Sprintf("{seed: %d, events_per_second: %d, base_time: %q, count: %d, batch_size: 7}", seed, rate, base, count)
					return enginetest.NewInput(t, nexmark.Plugin(), "in", fields)
				},
			}
		},
	})
}
