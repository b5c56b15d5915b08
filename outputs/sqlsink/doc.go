// Package sqlsink is the sql output: it writes records as rows of a
// PostgreSQL or MySQL/MariaDB table — inserted, or upserted on the key
// columns (ON CONFLICT … DO UPDATE, ON DUPLICATE KEY UPDATE) — and deletes
// the row of a tombstone or a delete change, each Write in one database
// transaction. A row the database refuses (a constraint, a value its
// column cannot hold) is rejected alone, to the dead letter; the others
// are written.
//
// It owns its spec, its statements (statements.go) and the write path
// (write.go). It imports engine, config and internal/sqldb; never another
// component.
package sqlsink
