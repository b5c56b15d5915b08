// Package sqlpoll is the sql_poll input: it polls a PostgreSQL or
// MySQL/MariaDB table (or a custom query) with the Kafka Connect JDBC
// source's modes (bulk, incrementing, timestamp, timestamp+incrementing)
// and its exact SQL, and makes each row a record whose position is the
// row's cursor, so that a restart resumes after the last row written.
//
// It owns its spec, the SQL of each mode (query.go), cursors and their
// positions (cursor.go) and the poll loop (poll.go). It imports engine,
// config and internal/sqldb; never another component.
package sqlpoll
