package service

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
)

// Who can reach the operations endpoint, and who may change anything
// through it. The server listens on loopback unless told otherwise.
// Reading (/ping, /ready, /metrics) is open to whoever reaches it; what
// changes the process (POST /reload) is refused to web pages of other
// origins, so that a page open in a browser on this machine cannot use a
// loopback server, and needs http.auth_token when one is set.

// addressVariable replaces the default of http.address. The container image
// sets it to 0.0.0.0:4195, so that a published port (or a Kubernetes probe)
// reaches the server whatever config is mounted, while a binary run by hand
// serves loopback only.
const addressVariable = "PIPELINE_HTTP_ADDRESS"

// httpAddress is where the operations server listens: http.address when the
// config (or a --set) gives it, else $PIPELINE_HTTP_ADDRESS, else the
// spec's default (configured holds the default then).
func httpAddress(doc *config.Document, configured string) string {
	if fromEnv := os.Getenv(addressVariable); fromEnv != "" && !setsHTTPAddress(doc) {
		return fromEnv
	}
	return configured
}

// setsHTTPAddress decodes the root once more, as loggerSettings does: the
// engine's settings hold the default and the given value alike. A root
// that does not decode (Build has refused it by now) keeps its own.
func setsHTTPAddress(doc *config.Document) bool {
	root, errs := config.Parse(doc.File, "", doc.Root, engine.RootFields())
	return len(errs) > 0 || root.Object("http").Has("address")
}

// refuseCrossOrigin answers 403 to every request but GET, HEAD and OPTIONS
// that a browser sends from a page of another origin. Go's
// CrossOriginProtection judges by Sec-Fetch-Site (anything but same-origin
// or none is refused) or, from older browsers, by Origin against Host;
// requests with neither header (curl, scripts, Prometheus) pass.
func refuseCrossOrigin(next http.Handler) http.Handler {
	protection := http.NewCrossOriginProtection()
	protection.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, fmt.Sprintf("cross-origin request refused: %s %s is taken only from this endpoint's own origin "+
			"or from clients that send no Origin header (curl, scripts)", r.Method, r.URL.Path), http.StatusForbidden)
	}))
	return protection.Handler(next)
}

// requireToken lets a request through only when it carries
// "Authorization: Bearer <token>"; with no token configured, every request.
// Every endpoint that changes the process or shows more than metrics
// (POST /reload now, /state next) goes through it.
func requireToken(token config.Secret, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	// Digests, because subtle.ConstantTimeCompare returns at once for
	// inputs of different lengths, which would tell the token's length.
	want := sha256.Sum256([]byte(token.Reveal()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		given, ok := bearerToken(r)
		if !ok {
			unauthorized(w, `Bearer realm="pipeline"`, fmt.Sprintf(
				"unauthorized: %s %s needs the token of http.auth_token, sent as \"Authorization: Bearer <token>\"", r.Method, r.URL.Path))
			return
		}
		got := sha256.Sum256([]byte(given))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			unauthorized(w, `Bearer realm="pipeline", error="invalid_token"`, "unauthorized: the bearer token is not the one of http.auth_token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// bearerToken is the credentials of an "Authorization: Bearer <token>"
// header; the scheme's case does not matter (RFC 9110).
func bearerToken(r *http.Request) (string, bool) {
	scheme, credentials, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	credentials = strings.TrimSpace(credentials)
	return credentials, strings.EqualFold(scheme, "Bearer") && credentials != ""
}

// unauthorized answers 401 with the challenge RFC 6750 asks for.
func unauthorized(w http.ResponseWriter, challenge, message string) {
	w.Header().Set("WWW-Authenticate", challenge)
	http.Error(w, message, http.StatusUnauthorized)
}
