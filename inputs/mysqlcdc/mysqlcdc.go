package mysqlcdc

import (
	"hash/fnv"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/inputs/internal/capture"
	"github.com/pipelinehq/pipeline/inputs/internal/cdcevent"
	"github.com/pipelinehq/pipeline/internal/sqldb"
)

// partition is the input's one partition: the binlog is one sequence.
const partition = "binlog"

// Plugin is the mysql_cdc input.
func Plugin() engine.InputPlugin {
	return engine.InputPlugin{
		Spec: config.Spec{
			Name: "mysql_cdc",
			Summary: "Changes of MySQL or MariaDB tables, from the binary log, after a consistent snapshot: Debezium's " +
				"change events.",
			Description: "Reads the tables whole first (snapshot_mode), as read events (op r), in one transaction " +
				"consistent with a binlog position, then every insert (c), update (u) and delete (d, followed by a " +
				"tombstone) committed after it, in commit order, by reading the binlog as a replica does. Its position " +
				"is the binlog file and offset where a transaction begins and how many of its changes were handed on: " +
				"it commits once every output wrote the changes before it, and under exactly_once into Kafka in the " +
				"transaction, so that each change reaches Kafka once. The server needs log_bin, binlog_format=ROW, " +
				"binlog_row_image=FULL and binlog_row_metadata=FULL, and a user with REPLICATION SLAVE, REPLICATION " +
				"CLIENT (BINLOG MONITOR on MariaDB), SELECT and, on MySQL, RELOAD. The README's \"Change data capture\" " +
				"section gives the envelope, the type mapping and the limits.",
			Fields: append([]config.Field{
				config.String("dsn", "The server, as the Go MySQL driver's DSN: user:password@tcp(host:3306)/database. "+
					"Give the password as ${ENV}.").Required().Secret().Example("${MYSQL_DSN:root@tcp(127.0.0.1:3306)/app}"),
				config.StringList("tables", "The tables to capture, as database.table (the DSN's database when the "+
					"database is left out). Empty: every table of the DSN's database.").
					Example([]any{"app.orders", "app.customers"}),
				config.Int("server_id", "The replica id the input reads the binlog as: unique among the server's "+
					"replicas and binlog readers. 0: one derived from the pipeline's name, between 1000000 and 2^31.").
					Default(0).Example(184054),
				config.String("snapshot_mode", "When to read the tables whole before streaming: initial, when no position "+
					"was committed; no_data (or never), never: stream from the binlog's end at the first start; "+
					"when_needed, also when the committed binlog file is gone; initial_only: read them once and end.").
					Default(capture.SnapshotInitial).Enum(capture.SnapshotModes...),
				config.String("topic_prefix", "The first part of each change's topic name, meta.topic: "+
					"<topic_prefix>.<database>.<table>, as Debezium names topics, and the envelope's source.name.").
					Default("mysql").Example("mysql", "inventory"),
				config.Duration("heartbeat_interval", "How often, while the captured tables are idle, the position "+
					"moves on past the other tables' changes, so that a restart need not read them again, nor the "+
					"server keep their binlog files; also the server's heartbeat to the reader.").
					Default("10s").Advanced(),
				config.Int("batch_max_events", "The most changes in one batch; a batch may hold several transactions, and a "+
					"large transaction several batches.").Default(1024).Advanced(),
			}, cdcevent.Fields()...),
			Example: `input:
  mysql_cdc:
    dsn: ${MYSQL_DSN:root@tcp(127.0.0.1:3306)/app}
    tables: [app.orders]
    server_id: 184054`,
		},
		New: New,
	}
}

// settings are the parsed config.
type settings struct {
	conf         *config.Parsed
	dsn          string
	database     string // the DSN's
	tables       []tableName
	serverID     uint32
	snapshotMode string
	prefix       string
	events       cdcevent.Builder
	heartbeat    time.Duration
	batchMax     int
	mapping      sqldb.Mapping
}

// Input is a running mysql_cdc input.
type Input struct {
	settings
	label string
	log   *slog.Logger

	resumed *position // from Resume
	server  server    // what Start learnt of the server

	loop *capture.Loop // runs the sessions, hands their batches to Read

	mu       sync.Mutex
	handedOn *position // the position of the last batch handed on
}

// New builds a mysql_cdc input from its config. It connects to nothing.
func New(conf *config.Parsed, res *engine.Resources) (engine.Input, error) {
	s := settings{
		conf:         conf,
		dsn:          conf.Secret("dsn").Reveal(),
		snapshotMode: capture.SnapshotMode(conf.String("snapshot_mode")),
		prefix:       conf.String("topic_prefix"),
		events:       cdcevent.NewBuilder(conf),
		heartbeat:    conf.Duration("heartbeat_interval"),
		batchMax:     conf.Int("batch_max_events"),
		mapping:      cdcevent.MappingOf(conf),
	}
	var errs config.Errors
	if cfg, err := sqldb.MySQLConfig(s.dsn); err != nil {
		errs = append(errs, conf.Errorf("dsn", "%s", config.Redact(err.Error(), s.dsn)))
	} else {
		s.database = cfg.DBName
	}
	for i, t := range conf.StringList("tables") {
		name, err := parseTableName(t, s.database)
		if err != nil {
			errs = append(errs, conf.Errorf("tables", "entry %d: %v", i+1, err))
			continue
		}
		s.tables = append(s.tables, name)
	}
	if len(s.tables) == 0 && s.database == "" && len(errs) == 0 {
		errs = append(errs, conf.Errorf("tables", "empty, and the DSN names no database: name the tables, or the database in the DSN"))
	}
	switch id := conf.Int("server_id"); {
	case id < 0 || id > 1<<32-1:
		errs = append(errs, conf.Errorf("server_id", "must be between 1 and 4294967295, got %d", id))
	case id == 0:
		s.serverID = defaultServerID(res.Pipeline)
	default:
		s.serverID = uint32(id)
	}
	if s.heartbeat <= 0 {
		errs = append(errs, conf.Errorf("heartbeat_interval", "must be above 0"))
	}
	if s.batchMax < 1 {
		errs = append(errs, conf.Errorf("batch_max_events", "must be at least 1"))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	in := &Input{settings: s, label: res.Label, log: res.Logger}
	if in.log == nil {
		in.log = slog.New(slog.DiscardHandler)
	}
	in.loop = capture.NewLoop("mysql_cdc", "", in.log)
	return in, nil
}

// defaultServerID is stable for a pipeline's name, and far from the small
// ids servers and their replicas are usually given.
func defaultServerID(pipeline string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(strings.ToLower(pipeline)))
	return 1_000_000 + h.Sum32()%(1<<31-1_000_000)
}
