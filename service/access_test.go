package service

import (
	"context"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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

// countingReload stands in for the supervisor: it counts the reloads the
// handler asked for.
type countingReload struct{ calls int }

func (c *countingReload) reload(context.Context, string) (reloadOutcome, error) {
	c.calls++
	return reloadOutcome{Result: reloadSuccess}, nil
}

// serve sends one request through the operations handler, as a request to
// the server at 127.0.0.1:4195.
func serve(handler http.Handler, method, path string, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	req.Host = "127.0.0.1:4195"
	maps.Copy(req.Header, header)
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	return rec
}

// TestCrossOriginRequestsAreRefused: a web page of another origin cannot
// reload the pipeline (or make any other state-changing request), whether
// the browser says so with Sec-Fetch-Site or only with Origin; the same
// origin, and clients that send neither (curl, scripts), can. Reading stays
// open to every origin.
func TestCrossOriginRequestsAreRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		method string
		header http.Header
		code   int
	}{
		{"foreign Origin", http.MethodPost, http.Header{"Origin": {"https://evil.example"}}, http.StatusForbidden},
		{"Origin of another port", http.MethodPost, http.Header{"Origin": {"http://127.0.0.1:8080"}}, http.StatusForbidden},
		{"Origin null", http.MethodPost, http.Header{"Origin": {"null"}}, http.StatusForbidden},
		{"Sec-Fetch-Site cross-site", http.MethodPost, http.Header{"Sec-Fetch-Site": {"cross-site"}}, http.StatusForbidden},
		{"Sec-Fetch-Site same-site", http.MethodPost, http.Header{"Sec-Fetch-Site": {"same-site"}, "Origin": {"http://127.0.0.1:4195"}}, http.StatusForbidden},
		{"PUT from a foreign Origin", http.MethodPut, http.Header{"Origin": {"https://evil.example"}}, http.StatusForbidden},
		{"DELETE cross-site", http.MethodDelete, http.Header{"Sec-Fetch-Site": {"cross-site"}}, http.StatusForbidden},
		{"same origin", http.MethodPost, http.Header{"Origin": {"http://127.0.0.1:4195"}}, http.StatusOK},
		{"Sec-Fetch-Site same-origin", http.MethodPost, http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {"http://127.0.0.1:4195"}}, http.StatusOK},
		{"no Origin (curl)", http.MethodPost, nil, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reloads := &countingReload{}
			handler := newHandler(&live{}, prometheus.NewRegistry(), reloads.reload, "")
			rec := serve(handler, tc.method, "/reload", tc.header)
			if tc.code == http.StatusForbidden {
				refused := "cross-origin request refused: " + tc.method + " /reload is taken only from this endpoint's own origin or from clients that send no Origin header (curl, scripts)\n"
				if rec.Code != http.StatusForbidden || rec.Body.String() != refused {
					t.Errorf("%s /reload: %d %q, want 403 %q", tc.method, rec.Code, rec.Body.String(), refused)
				}
				if reloads.calls != 0 {
					t.Errorf("a refused request reloaded the config %d times", reloads.calls)
				}
				return
			}
			if rec.Code != http.StatusOK || rec.Body.String() != "{\"result\":\"success\"}\n" || reloads.calls != 1 {
				t.Errorf("POST /reload: %d %q after %d reloads, want 200 success after 1", rec.Code, rec.Body.String(), reloads.calls)
			}
		})
	}

	// A dashboard of another origin may still read.
	current := &live{}
	current.set("p", phaseRunning)
	registry := prometheus.NewRegistry()
	registry.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "pipeline_test_gauge", Help: "A gauge."}))
	handler := newHandler(current, registry, nil, "")
	foreign := http.Header{"Origin": {"https://dashboard.example"}, "Sec-Fetch-Site": {"cross-site"}}
	for path, want := range map[string]string{"/ping": "pong", "/ready": "ready: pipeline p is running\n", "/metrics": "\npipeline_test_gauge 0\n"} {
		if rec := serve(handler, http.MethodGet, path, foreign); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), want) {
			t.Errorf("GET %s from another origin: %d %q, want 200 with %q", path, rec.Code, rec.Body.String(), want)
		}
	}
}

// tokenConfig guards the operations endpoint with the token in
// $PIPELINE_TEST_TOKEN; interval makes one version of it differ from
// another.
func tokenConfig(interval, token string) string {
	return "input:\n  ticks: {interval: " + interval + "}\noutput:\n  gated: {}\n" +
		"http:\n  address: 127.0.0.1:0\n  auth_token: " + token + "\n"
}

// postReloadWith sends POST /reload with the given Authorization header
// (none when empty).
func postReloadWith(t *testing.T, baseURL, authorization string) (code int, wwwAuthenticate, body string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, baseURL+"/reload", nil)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := noKeepAlive.Do(req)
	if err != nil {
		t.Fatalf("POST /reload: %v", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(data)
}

// TestAuthTokenGuardsReload: with http.auth_token set (here from ${ENV}),
// POST /reload without the token, or with another one, is answered 401 and
// reloads nothing; with it, the reload runs. Reading stays open, and the
// token is never logged. A reload that changes the token keeps the running
// one, as it keeps the address.
func TestAuthTokenGuardsReload(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	const token = "s3cret-Token-7f1c"
	t.Setenv("PIPELINE_TEST_TOKEN", token)
	g := newGate()
	g.open()
	path := writeConfig(t, tokenConfig("2ms", "${PIPELINE_TEST_TOKEN}"))
	var logs syncBuffer
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	s := start(t, ctx, Options{ConfigPath: path, Registry: testRegistry(g), Signals: make(chan os.Signal), LogOutput: &logs})

	const missing = "unauthorized: POST /reload needs the token of http.auth_token, sent as \"Authorization: Bearer <token>\"\n"
	const wrong = "unauthorized: the bearer token is not the one of http.auth_token\n"
	for _, tc := range []struct{ authorization, challenge, body string }{
		{"", `Bearer realm="pipeline"`, missing},
		{"Basic " + token, `Bearer realm="pipeline"`, missing},
		{"Bearer ", `Bearer realm="pipeline"`, missing},
		{"Bearer not-the-token", `Bearer realm="pipeline", error="invalid_token"`, wrong},
		{"Bearer " + token + "x", `Bearer realm="pipeline", error="invalid_token"`, wrong},
	} {
		code, challenge, body := postReloadWith(t, s.baseURL, tc.authorization)
		if code != http.StatusUnauthorized || challenge != tc.challenge || body != tc.body {
			t.Errorf("POST /reload with Authorization %q: %d, WWW-Authenticate %q, %q; want 401, %q, %q",
				tc.authorization, code, challenge, body, tc.challenge, tc.body)
		}
	}
	waitForStatus(t, s.baseURL+"/ready", http.StatusOK)
	for path, want := range map[string]string{"/ping": "pong", "/ready": "ready: pipeline test is running\n", "/metrics": "\ngo_goroutines "} {
		if code, body := get(t, s.baseURL+path); code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("GET %s without a token: %d %q, want 200 with %q", path, code, body, want)
		}
	}

	writeFile(t, path, tokenConfig("3ms", "${PIPELINE_TEST_TOKEN}"))
	if code, _, body := postReloadWith(t, s.baseURL, "Bearer "+token); code != http.StatusOK || body != "{\"result\":\"success\"}\n" {
		t.Fatalf("POST /reload with the token: %d %q, want 200 success", code, body)
	}
	// Only the authorized request reached the supervisor.
	if got := metricValue(t, s.baseURL, `pipeline_config_reloads_total{result="success"}`); got != "1" {
		t.Errorf("reloads_total{success} = %s, want 1", got)
	}

	// The scheme is case-insensitive (RFC 9110); a new token waits for a
	// restart, so the running one still opens the door.
	writeFile(t, path, tokenConfig("3ms", "another-token"))
	if code, _, body := postReloadWith(t, s.baseURL, "bearer "+token); code != http.StatusOK || body != "{\"result\":\"success\"}\n" {
		t.Fatalf("POST /reload with the token, scheme in lower case: %d %q, want 200 success", code, body)
	}
	if code, _, _ := postReloadWith(t, s.baseURL, "Bearer another-token"); code != http.StatusUnauthorized {
		t.Errorf("POST /reload with the token of the reloaded file: %d, want 401 until a restart", code)
	}
	if !strings.Contains(logs.String(), "reload: http, logger and memory_limit take effect only when the process starts") {
		t.Errorf("a changed http.auth_token is not reported:\n%s", logs.String())
	}

	cancel()
	if err := waitResult(t, s.result); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), token) || strings.Contains(logs.String(), "another-token") {
		t.Errorf("the log shows a token:\n%s", logs.String())
	}
}

// TestRequireTokenGuardsAnyHandler: the guard other endpoints (/state)
// reuse passes everything when no token is configured, and otherwise only
// the right bearer token. A web page of another origin is refused even
// with the token, before the token is looked at.
func TestRequireTokenGuardsAnyHandler(t *testing.T) {
	reached := 0
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { reached++ })
	if rec := serve(requireToken("", next), http.MethodPost, "/state", nil); rec.Code != http.StatusOK || reached != 1 {
		t.Errorf("without a configured token: %d, reached %d times, want 200 and 1", rec.Code, reached)
	}
	guarded := requireToken("tok", next)
	for authorization, allowed := range map[string]bool{"": false, "Bearer tok2": false, "Bearer to": false, "Token tok": false,
		"Bearer tok": true, "BEARER  tok ": true} {
		reached = 0
		rec := serve(guarded, http.MethodPost, "/state", http.Header{"Authorization": {authorization}})
		if allowed && (rec.Code != http.StatusOK || reached != 1) || !allowed && (rec.Code != http.StatusUnauthorized || reached != 0) {
			t.Errorf("Authorization %q: %d, reached %d times; allowed: %v", authorization, rec.Code, reached, allowed)
		}
	}
	if rec := serve(guarded, http.MethodPost, "/state", nil); rec.Body.String() !=
		"unauthorized: POST /state needs the token of http.auth_token, sent as \"Authorization: Bearer <token>\"\n" {
		t.Errorf("401 body %q", rec.Body.String())
	}

	reloads := &countingReload{}
	handler := newHandler(&live{}, prometheus.NewRegistry(), reloads.reload, "tok")
	rec := serve(handler, http.MethodPost, "/reload", http.Header{"Authorization": {"Bearer tok"}, "Origin": {"https://evil.example"}})
	if rec.Code != http.StatusForbidden || reloads.calls != 0 {
		t.Errorf("POST /reload with the token from another origin: %d after %d reloads, want 403 after none", rec.Code, reloads.calls)
	}
}
