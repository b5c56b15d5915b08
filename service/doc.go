// Package service runs one pipeline as a process: it loads and builds the
// config, sets up logging, serves the operations endpoints (/ping, /ready,
// /metrics, POST /reload), turns SIGINT and SIGTERM into a graceful drain,
// and shuts all of it down cleanly when the pipeline ends.
//
// It owns the process-wide pieces a pipeline needs but the engine must not
// know about: the slog logger, the Prometheus registry with the Go and
// process collectors, the HTTP server and who may use it (access.go: the
// loopback default, the refusal of cross-origin requests, the bearer token
// of http.auth_token), and signal handling. The pipeline the endpoints
// report on sits behind one small holder (see live), so that a hot reload
// can later swap pipelines without restarting the server.
//
// It may import config, engine and third-party libraries. It never imports a
// component package: the caller passes the registry (cmd/pipeline builds it
// from inputs, processors and outputs), which also lets tests use fakes. Its
// tests may import the built-in components to run real pipelines.
package service
