// Package generate is the generate input: records made by an expression,
// a given number of them or without end, as fast as possible or one per
// interval. It serves tests, demos and benchmarks.
//
// It owns its spec and constructor. It imports engine and config (and the
// inputs' internal record allocator); never another component.
package generate
