// Package pgcdc is the postgres_cdc input: change data capture from
// PostgreSQL by logical replication (pgoutput), with an initial snapshot
// taken under the replication slot's exported snapshot, and Debezium's
// change-event envelope.
//
// It owns the publication and the replication slot it creates, the
// snapshot, the decoding of pgoutput messages into records, and the
// input's position: the commit LSN of a transaction and how many of its
// changes were handed on. The LSN is confirmed to the server only once the
// engine commits a position (Commit), never on receipt, so that a crash
// loses nothing the server still keeps.
//
// It may import engine, config, internal/sqldb (the type mapping shared
// with sql_poll), inputs/internal/cdcevent (the records of a change),
// inputs/internal/capture (the session loop, batches, positions' progress),
// pgx/pgconn and pglogrepl; never another component.
package pgcdc
