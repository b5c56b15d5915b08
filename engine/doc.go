// Package engine is the core of pipeline: the record and batch types, the
// component interfaces and the registry that knows them, expressions, building
// a processor graph from a config, and running it with end-to-end acks, source
// positions, bounded in-flight work, commits and drain.
//
// Components (inputs, processors, outputs) import engine and config; engine
// imports config and never a component. The engine alone owns commits: a
// component hands records on and reports errors, and learns nothing of
// checkpoints or transactions.
package engine
