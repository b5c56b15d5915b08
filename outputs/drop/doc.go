// Package drop is the drop output: it discards every record, for
// benchmarks and for pipelines whose work is their side effects.
//
// It owns its spec and constructor. It imports engine and config only.
package drop
