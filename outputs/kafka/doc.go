// Package kafka is the Kafka output: it produces records with franz-go,
// idempotently by default, to a fixed topic or one chosen per record by an
// expression, partitioning keyed records with murmur2 as the Java client
// does. A write returns only when every record of it is acknowledged, so the
// engine commits input positions only for records Kafka has.
//
// It imports engine, config and internal/kafkaclient.
package kafka
