// Package cdcevent holds what the change-data-capture inputs (postgres_cdc,
// mysql_cdc) share: how a row change becomes records — Debezium's envelope
// or the plain row, the primary key as the record key, a tombstone after a
// delete, a primary key update as a delete and a create — and the settings
// that choose between them.
//
// It knows nothing of any database: each input gives it decoded rows and
// the envelope's source block. It imports engine and config only.
package cdcevent
