// Package kafka is the Kafka input: a franz-go consumer group member, static
// (KIP-345) so that a restart takes its partitions back at once, that hands
// the engine one partition's records per batch, in offset order, commits the
// offsets the engine says are done, and tells whether it can make progress
// (its group assigned it partitions, its fetches work). Read as a join's
// table (engine.TableInput, table.go) it is no group member but a direct
// consumer of every partition, from the start, that tells when it reached
// the end offsets taken at start. It imports engine, config and
// internal/kafkaclient.
package kafka
