// Package cdctest is what the CDC inputs' tests share: a writer that
// churns a table while a snapshot reads it, and the table rebuilt from an
// input's records, to compare with the database's own.
//
// It imports engine only; tests alone import it.
package cdctest
