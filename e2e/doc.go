// Package e2e tests pipeline from the outside: the built binary, the example
// configs, and the real tools and services users run it with (a Kafka broker,
// databases, an editor's YAML language server).
//
// Everything a test needs is installed and started by the project's own
// scripts under e2e/setup/, which cache downloads under
// ${XDG_CACHE_HOME:-~/.cache}/pipeline-e2e/ so that reruns are quick. When a
// tool cannot be installed (no network, no npm), its tests skip with the
// reason; under CI=true (.ci/run) they fail instead, so CI never passes by
// skipping.
//
// The tests run in the normal `go test ./e2e/...` and stay fast: every
// external process has a timeout and is stopped by the test that started it.
package e2e
