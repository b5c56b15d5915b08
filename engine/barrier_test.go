package engine

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// waitsFor reports whether fn is still blocked after a short while, then
// whether it returned within a second once unblock ran.
func blocked(t *testing.T, fn func() error) chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		t.Fatalf("returned at once (%v); want it to wait", err)
	case <-time.After(50 * time.Millisecond):
	}
	return done
}

func returns(t *testing.T, done chan error, want error) {
	t.Helper()
	select {
	case err := <-done:
		if !errors.Is(err, want) {
			t.Fatalf("returned %v, want %v", err, want)
		}
	case <-time.After(time.Second):
		t.Fatal("still waiting after a second")
	}
}

// TestInFlightCapIsBackpressure: acquiring past max_in_flight waits until a
// place is released, and gives up when its context ends.
func TestInFlightCapIsBackpressure(t *testing.T) {
	f := newInFlight(2)
	ctx := context.Background()
	for range 2 {
		if err := f.acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	third := blocked(t, func() error { return f.acquire(ctx) })
	f.giveBack()
	returns(t, third, nil)

	cctx, cancel := context.WithCancel(ctx)
	fourth := blocked(t, func() error { return f.acquire(cctx) })
	cancel()
	returns(t, fourth, context.Canceled)
	if f.taken != 2 {
		t.Fatalf("%d places taken, want 2 (a cancelled acquire takes none)", f.taken)
	}
}

func TestInFlightWaitIdle(t *testing.T) {
	f := newInFlight(4)
	ctx := context.Background()
	if err := f.waitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	_ = f.acquire(ctx)
	_ = f.acquire(ctx)
	f.handOn()
	f.handOn()
	// A place taken but not handed on (a reader on its way to the intake
	// gate, which a commit holds shut) does not keep the run from idling.
	_ = f.acquire(ctx)
	idle := blocked(t, func() error { return f.waitIdle(ctx) })
	f.release()
	select {
	case err := <-idle:
		t.Fatalf("idle with one batch in flight: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	f.release()
	returns(t, idle, nil)

	_ = f.acquire(ctx)
	f.handOn()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if err := f.waitIdle(cctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waitIdle past its deadline: %v", err)
	}
}

// TestGate: a commit's lock waits for readers inside to leave and keeps new
// ones out until it unlocks; waits on either side honour their contexts.
func TestGate(t *testing.T) {
	var g gate
	ctx := context.Background()
	if err := g.enter(ctx); err != nil {
		t.Fatal(err)
	}
	locked := blocked(t, func() error { return g.lock(ctx) })
	// The lock is waiting: a reader that comes now waits behind it.
	second := blocked(t, func() error { return g.enter(ctx) })
	g.leave()
	returns(t, locked, nil)
	select {
	case err := <-second:
		t.Fatalf("a reader entered a locked gate (%v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	g.unlock()
	returns(t, second, nil)

	cctx, cancel := context.WithCancel(ctx)
	lockWait := blocked(t, func() error { return g.lock(cctx) })
	cancel()
	returns(t, lockWait, context.Canceled)
	// The cancelled lock left the gate open.
	g.leave()
	if err := g.enter(ctx); err != nil {
		t.Fatal(err)
	}
	g.leave()
}

// TestMaxInFlightStopsReading: with the sink stalled, a pipeline reads
// max_in_flight batches and then waits; once the sink takes writes, the
// rest is read and written.
func TestMaxInFlightStopsReading(t *testing.T) {
	batches := make([][]string, 20)
	for i := range batches {
		batches[i] = []string{fmt.Sprint(i)}
	}
	f := newFixture(&testInput{batches: batches})
	p := f.build(t, "input: {scripted: {}}\noutput: {collect: {name: out}}\nmax_in_flight: 3\n")
	out := f.outs["out"]
	out.gate = make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	read := func() int {
		f.in.mu.Lock()
		defer f.in.mu.Unlock()
		return f.in.next
	}
	deadline := time.Now().Add(5 * time.Second)
	for read() < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if n := read(); n != 3 {
		t.Fatalf("%d batches read with the sink stalled, want max_in_flight = 3", n)
	}
	close(out.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := len(out.values()); got != 20 {
		t.Fatalf("%d records written, want 20", got)
	}
}
