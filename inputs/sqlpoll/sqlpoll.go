package sqlpoll

import (
	"database/sql"
	"log/slog"
	"sync"
	"time"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/internal/sqldb"
)

// queryPartition is the partition of a custom query's rows.
const queryPartition = "query"

// Plugin is the sql_poll input.
func Plugin() engine.InputPlugin {
	return engine.InputPlugin{
		Spec: config.Spec{
			Name:    "sql_poll",
			Summary: "Polls a PostgreSQL or MySQL/MariaDB table or query for new and changed rows, as Kafka Connect's JDBC source does.",
			Description: "Each row becomes a JSON object record of column name to value (the README's \"Databases\" section gives each " +
				"type's mapping), keyed by key_columns, timed by the timestamp column. The modes are Kafka Connect's, with its SQL: " +
				"bulk reads the whole table every poll; incrementing reads rows whose incrementing_column is above the last one read; " +
				"timestamp rows whose timestamp is after the last one read and before the database's clock less timestamp_delay; " +
				"timestamp+incrementing both, so that rows sharing a timestamp are neither lost nor read twice. The cursor of the " +
				"last row written by every output is the input's position: a restart resumes after it (under exactly_once into " +
				"Kafka it commits in the transaction, so each row reaches Kafka once). The table (or \"query\") is the partition, " +
				"and meta.table. Known limit: a row committed after rows with later cursors were read (a long transaction, a clock " +
				"step) is skipped; timestamp_delay mitigates it, change data capture is the cure.",
			Fields: []config.Field{
				config.String("driver", "The database: postgres, or mysql (MySQL and MariaDB).").Required().Enum(sqldb.Drivers...),
				config.String("dsn", "The connection, in the driver's form: postgres://user:password@host:5432/db (or key=value "+
					"pairs) for postgres; user:password@tcp(host:3306)/db for mysql. Give the password as ${ENV}.").
					Required().Secret().Example("${PG_DSN}", "${MYSQL_DSN:root@tcp(127.0.0.1:3306)/app}"),
				config.String("table", "The table to poll, optionally schema.table (database.table in MySQL). Give table or query.").
					Example("orders", "public.orders"),
				config.String("query", "A query whose rows are polled instead of a table's, for joins or a subset of columns. It is "+
					"wrapped as a subquery, so the mode's WHERE applies to its result columns and it may have a WHERE of its own; it "+
					"must not end in ORDER BY.").Example("SELECT o.*, c.country FROM orders o JOIN customers c ON c.id = o.customer_id"),
				config.String("mode", "How new rows are found: bulk, incrementing, timestamp or timestamp+incrementing.").
					Required().Enum(modes...),
				config.String("incrementing_column", "The strictly increasing integer column (an id) of modes incrementing and "+
					"timestamp+incrementing.").Example("id"),
				config.StringList("timestamp_columns", "The timestamp column of modes timestamp and timestamp+incrementing; with "+
					"several, a row's timestamp is the first that is not NULL (COALESCE).").Example([]any{"updated_at"}, []any{"updated_at", "created_at"}),
				config.Duration("timestamp_delay", "How far behind the database's clock a poll stays: rows whose timestamp is less "+
					"than this old are read by a later poll, so that a transaction that commits up to this late is not skipped "+
					"(Kafka Connect's timestamp.delay.interval.ms).").Default("0s").Example("5s"),
				config.String("timestamp_initial", "Where the timestamp modes begin when no position was committed: only rows after "+
					"this RFC 3339 time. By default every row is read.").Example("2026-01-01T00:00:00Z").Advanced(),
				config.Duration("poll_interval", "How often to poll, from the start of one poll to the start of the next.").
					Default("5s").Example("1s", "1m"),
				config.Int("batch_max_rows", "The most rows in one batch; a poll's result is read a batch at a time.").
					Default(1024).Advanced(),
				config.StringList("key_columns", "The columns of the record key: one column gives its value as text, several a "+
					"JSON object. By default the table's primary key (none for a query).").Example([]any{"id"}),
				config.String("numeric_mapping", "DECIMAL and NUMERIC values: string keeps the database's digits as a JSON string "+
					"(\"19.90\"); number writes the same digits as a JSON number (19.90), exactly.").
					Default(string(sqldb.NumericString)).Enum(string(sqldb.NumericString), string(sqldb.NumericNumber)),
				config.String("timestamp_format", "Timestamp values: rfc3339, a UTC string with the column's fractional seconds; "+
					"epoch_ms, integer milliseconds (Kafka Connect's; finer digits are cut).").
					Default(string(sqldb.TimeRFC3339)).Enum(string(sqldb.TimeRFC3339), string(sqldb.TimeEpochMillis)),
				config.Bool("validate_non_null", "Refuse to start when the cursor columns can be NULL (a NULL cursor row is never "+
					"read); with several timestamp columns, when all of them can. Kafka Connect's validate.non.null.").
					Default(true).Advanced(),
				config.Bool("allow_unindexed", "Start even when a cursor column begins no index (every poll then scans the "+
					"whole table).").Default(false).Advanced(),
			},
			Example: `input:
  sql_poll:
    driver: mysql
    dsn: ${MYSQL_DSN:root@tcp(127.0.0.1:3306)/app}
    table: orders
    mode: timestamp+incrementing
    timestamp_columns: [updated_at]
    incrementing_column: id`,
		},
		New: New,
	}
}

// Input is a running sql_poll input.
type Input struct {
	settings
	label  string
	log    *slog.Logger
	origin *engine.Source // of every record

	db        *sql.DB
	key       []string // resolved key columns
	precision int      // fractional digits of the timestamp column; -1 unknown
	resumed   *cursor  // from Resume

	poll *poll // the result set being read, nil between polls
	// emitted is the cursor of the last row handed on; position the one
	// the last batch carried (in timestamp mode it may lag the rows).
	emitted, position cursor
	nextPoll          time.Time

	mu      sync.Mutex
	failure error // the last poll's failure, for Ready; nil once a poll succeeds
	started bool
}

// settings are the parsed config.
type settings struct {
	conf         *config.Parsed
	driver       sqldb.Driver
	dsn          string
	src          source
	partition    string
	mode         string
	incColumn    string
	tsColumns    []string
	delay        time.Duration
	initial      time.Time
	interval     time.Duration
	batchMax     int
	keyColumns   []string
	mapping      sqldb.Mapping
	validateNull bool
	unindexed    bool
}

// New builds a sql_poll input from its config. It connects to nothing.
func New(conf *config.Parsed, res *engine.Resources) (engine.Input, error) {
	s, err := parseSettings(conf)
	if err != nil {
		return nil, err
	}
	in := &Input{settings: s, label: res.Label, log: res.Logger, precision: -1}
	if in.log == nil {
		in.log = slog.New(slog.DiscardHandler)
	}
	in.srcMeta()
	return in, nil
}

func (in *Input) srcMeta() {
	in.origin = &engine.Source{Input: in.label, Partition: in.partition, Meta: map[string]any{"table": in.partition}}
}

func parseSettings(conf *config.Parsed) (settings, error) {
	s := settings{
		conf:         conf,
		driver:       sqldb.Driver(conf.String("driver")),
		dsn:          conf.Secret("dsn").Reveal(),
		mode:         conf.String("mode"),
		incColumn:    conf.String("incrementing_column"),
		tsColumns:    conf.StringList("timestamp_columns"),
		delay:        conf.Duration("timestamp_delay"),
		interval:     conf.Duration("poll_interval"),
		batchMax:     conf.Int("batch_max_rows"),
		keyColumns:   conf.StringList("key_columns"),
		mapping:      sqldb.Mapping{Numeric: sqldb.NumericMapping(conf.String("numeric_mapping")), Time: sqldb.TimeFormat(conf.String("timestamp_format"))},
		validateNull: conf.Bool("validate_non_null"),
		unindexed:    conf.Bool("allow_unindexed"),
	}
	s.src = source{driver: s.driver, table: conf.String("table"), query: conf.String("query")}
	s.partition = s.src.table
	if s.src.query != "" {
		s.partition = queryPartition
	}
	var errs config.Errors
	if err := sqldb.CheckDSN(s.driver, s.dsn); err != nil {
		errs = append(errs, conf.Errorf("dsn", "%s", config.Redact(err.Error(), s.dsn)))
	}
	switch {
	case conf.Has("table") == conf.Has("query"):
		errs = append(errs, conf.Errorf("table", "give exactly one of table and query"))
	case conf.Has("table"):
		if _, _, err := sqldb.SplitTable(s.src.table); err != nil {
			errs = append(errs, conf.Errorf("table", "%v", err))
		}
	}
	errs = append(errs, s.checkCursorFields()...)
	if conf.Has("timestamp_initial") {
		t, err := time.Parse(time.RFC3339Nano, conf.String("timestamp_initial"))
		switch {
		case err != nil:
			errs = append(errs, conf.Errorf("timestamp_initial", "want an RFC 3339 time: %v", err))
		case !usesTimestamp(s.mode):
			errs = append(errs, conf.Errorf("timestamp_initial", "applies only to the timestamp modes (mode is %s)", s.mode))
		}
		s.initial = t
	}
	if s.delay < 0 {
		errs = append(errs, conf.Errorf("timestamp_delay", "must not be negative"))
	}
	if s.interval <= 0 {
		errs = append(errs, conf.Errorf("poll_interval", "must be positive"))
	}
	if s.batchMax < 1 {
		errs = append(errs, conf.Errorf("batch_max_rows", "must be at least 1, got %d", s.batchMax))
	}
	if len(errs) > 0 {
		return s, errs
	}
	return s, nil
}

func (s settings) checkCursorFields() config.Errors {
	var errs config.Errors
	conf := s.conf
	switch {
	case usesIncrementing(s.mode) && s.incColumn == "":
		errs = append(errs, conf.Errorf("incrementing_column", "mode %s needs incrementing_column", s.mode))
	case !usesIncrementing(s.mode) && conf.Has("incrementing_column"):
		errs = append(errs, conf.Errorf("incrementing_column", "mode %s uses no incrementing column", s.mode))
	}
	switch {
	case usesTimestamp(s.mode) && len(s.tsColumns) == 0:
		errs = append(errs, conf.Errorf("timestamp_columns", "mode %s needs timestamp_columns", s.mode))
	case !usesTimestamp(s.mode) && conf.Has("timestamp_columns"):
		errs = append(errs, conf.Errorf("timestamp_columns", "mode %s uses no timestamp column", s.mode))
	}
	for _, c := range s.tsColumns {
		if c == "" {
			errs = append(errs, conf.Errorf("timestamp_columns", "a column name is empty"))
		}
	}
	return errs
}
