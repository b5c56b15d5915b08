// Package proctest is test support for the processor packages: it builds and
// runs a whole pipeline from YAML with an in-memory input that replays fixed
// batches and in-memory outputs that collect what they are given, so that a
// processor's tests exercise it exactly as the engine runs it (routes,
// failures, the dead-letter output).
//
// It is imported only by tests. It may import engine, config and the
// processors registration list.
package proctest
