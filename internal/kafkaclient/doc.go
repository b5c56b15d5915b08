// Package kafkaclient holds what the Kafka input and output share: the
// connection fields of their specs (brokers, TLS, SASL), turning them into
// franz-go client options, and creating the topics a component declares.
//
// It imports config and franz-go; the Kafka components import it.
package kafkaclient
