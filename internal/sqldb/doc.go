// Package sqldb is what the SQL input and output share: opening a
// connection to PostgreSQL (pgx) or MySQL/MariaDB (go-sql-driver/mysql)
// with the session settings the pipeline relies on (UTC, strict modes),
// each dialect's SQL (identifier quoting, placeholders, the database's
// clock, upserts), a table's columns, primary key and indexes from the
// catalog, the mapping of column values to record values, and the sorting
// of database errors into a rejected row and a lost connection.
//
// It imports the drivers and the standard library, not engine or config:
// components translate its errors into config errors themselves.
package sqldb
