// Package bench holds the benchmarks behind BENCHMARKS.md. Each one measures
// the pipeline and, in the same run, a baseline doing the same job by hand
// (a plain Go loop), and reports the ratio. Run them with `make bench`.
//
// It may import everything; nothing imports it.
package bench
