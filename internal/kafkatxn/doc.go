// Package kafkatxn is the Kafka side of exactly-once: the transactional
// session one pipeline instance reads its Kafka input through and writes its
// Kafka outputs and state changelogs through (franz-go's
// GroupTransactSession), the changelog topics and their restore.
//
// The engine decides when transactions begin and end (engine.Transactions);
// the kafka input opens the session, the kafka outputs write through it.
//
// It imports franz-go, internal/kafkaclient and statestore (for the change
// type only).
package kafkatxn
