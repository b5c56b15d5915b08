// Package cdctest is what the CDC inputs' tests share: reading an input's
// records and Debezium envelopes, a writer that churns a table while a
// snapshot reads it, the table rebuilt from an input's records to compare
// with the database's own, a server crash in mid-stream, and the
// conformance suite's rows.
//
// It imports engine and engine/conformance only; tests alone import it.
package cdctest
