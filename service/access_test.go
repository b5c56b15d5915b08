package service

import (
	"context"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pipelinehq/pipeline/engine"
)

// Who can reach the operations endpoint, and who may change anything
// through it.

// noHTTPConfig leaves the http section to its defaults.
const noHTTPConfig = "input:\n  ticks: {interval: 2ms}\noutput:\n  gated: {}\n"

// TestDefaultAddressIsLoopback: without http.address the server listens on
// 127.0.0.1:4195, so only this machine reaches it. Should another process
// hold the port, the listen error names the address tried, which shows the
// same.
func TestDefaultAddressIsLoopback(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	httpField, _ := fieldOf(engine.RootFields(), "http")
	if address, _ := fieldOf(httpField.Fields, "address"); address.DefaultValue != "127.0.0.1:4195" {
		t.Errorf("the spec's default http.address is %v, want 127.0.0.1:4195", address.DefaultValue)
	}

	t.Setenv("PIPELINE_HTTP_ADDRESS", "")
	g := newGate()
	g.open()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	addrs := make(chan net.Addr, 1)
	result := make(chan error, 1)
	go func() {
		result <- Run(ctx, Options{
			ConfigPath:    writeConfig(t, noHTTPConfig),
			Registry:      testRegistry(g),
			Signals:       make(chan os.Signal),
			LogOutput:     io.Discard,
			HTTPListening: func(a net.Addr) { addrs <- a },
		})
	}()
	select {
	case a := <-addrs:
		if a.String() != "127.0.0.1:4195" {
			t.Errorf("the server listens on %s, want 127.0.0.1:4195", a)
		}
		cancel()
		if err := waitResult(t, result); err != nil {
			t.Fatal(err)
		}
	case err := <-result:
		if err == nil || !strings.Contains(err.Error(), "listen tcp 127.0.0.1:4195: ") {
			t.Fatalf("Run: %v, want it to listen on 127.0.0.1:4195", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the HTTP server did not start")
	}
}

// TestAddressFromTheEnvironment: PIPELINE_HTTP_ADDRESS (which the container
// image sets to 0.0.0.0:4195) replaces the default, and only the default:
// an address the config gives wins over it.
func TestAddressFromTheEnvironment(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	g := newGate()
	g.open()
	run := func(config string) string {
		t.Helper()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		s := start(t, ctx, Options{ConfigPath: writeConfig(t, config), Registry: testRegistry(g),
			Signals: make(chan os.Signal), LogOutput: io.Discard})
		cancel()
		if err := waitResult(t, s.result); err != nil {
			t.Fatal(err)
		}
		return strings.TrimPrefix(s.baseURL, "http://")
	}

	t.Setenv("PIPELINE_HTTP_ADDRESS", "127.0.0.1:0")
	if host, port, _ := net.SplitHostPort(run(noHTTPConfig)); host != "127.0.0.1" || port == "4195" {
		t.Errorf("with PIPELINE_HTTP_ADDRESS=127.0.0.1:0 the server listens on %s:%s, want 127.0.0.1 and a free port", host, port)
	}
	// 192.0.2.1 is no address of this machine: listening there would fail.
	t.Setenv("PIPELINE_HTTP_ADDRESS", "192.0.2.1:4195")
	if host, _, _ := net.SplitHostPort(run(ticksConfig)); host != "127.0.0.1" {
		t.Errorf("the config's http.address 127.0.0.1:0 lost to PIPELINE_HTTP_ADDRESS: the server listens on %s", host)
	}
}
