// Package kafka is the Kafka input: a franz-go consumer group member that
// hands the engine one partition's records per batch, in offset order, and
// commits the offsets the engine says are done. It imports engine, config
// and internal/kafkaclient.
package kafka
