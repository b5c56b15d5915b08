// Package mysqlcdc is the mysql_cdc input: change data capture from MySQL
// and MariaDB by reading the binary log as a replica does, after an initial
// snapshot consistent with a binlog position, with Debezium's change-event
// envelope.
//
// It owns the snapshot, the decoding of row events into records (columns
// named by the binlog's own table metadata, binlog_row_metadata=FULL, so
// that an ALTER TABLE between a change and its decoding cannot misname a
// value), and the input's position: the binlog file and offset where a
// transaction begins and how many of its changes were handed on. The
// server keeps no position for a binlog reader: the engine keeps it (in
// state.dir, or in the Kafka transaction), and a restart reads the binlog
// again from it.
//
// It may import engine, config, internal/sqldb (connections and the type
// mapping shared with sql_poll), inputs/internal/cdcevent, inputs/internal/capture and go-mysql's
// replication packages; never another component.
package mysqlcdc
