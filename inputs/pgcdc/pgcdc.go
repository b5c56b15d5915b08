package pgcdc

import (
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/inputs/internal/capture"
	"github.com/pipelinehq/pipeline/inputs/internal/cdcevent"
	"github.com/pipelinehq/pipeline/internal/sqldb"
)

// Plugin is the postgres_cdc input.
func Plugin() engine.InputPlugin {
	return engine.InputPlugin{
		Spec: config.Spec{
			Name: "postgres_cdc",
			Summary: "Captures the changes of PostgreSQL tables by logical replication (pgoutput), after an initial " +
				"snapshot, as Debezium change events.",
			Description: "The input creates the publication and the replication slot it names when they are missing, reads " +
				"the tables under the slot's exported snapshot (op r), then streams every insert (c), update (u), delete (d, " +
				"followed by a tombstone) and truncate (t) committed after it, in commit order. Its position is a " +
				"transaction's commit LSN and how many of its changes were handed on: the LSN is confirmed to the server " +
				"only once every output wrote the changes before it, so the server keeps what a crash would need; under " +
				"exactly_once into Kafka the position commits in the transaction and each change reaches Kafka once. The " +
				"server needs wal_level=logical, and a user with REPLICATION (or a superuser). An update's before image " +
				"is the whole row only with REPLICA IDENTITY FULL; with DEFAULT it is null unless the key changed. The " +
				"README's \"Change data capture\" section gives the envelope, the type mapping and the limits.",
			Fields: append([]config.Field{
				config.String("dsn", "The database, as a libpq URL or key=value pairs: postgres://user:password@host:5432/db. "+
					"Give the password as ${ENV}.").Required().Secret().Example("${PG_DSN:postgres://postgres@127.0.0.1:5432/app}"),
				config.StringList("tables", "The tables to capture, as schema.table (public when the schema is left out). "+
					"Empty: every table of the publication (a publication it creates is then FOR ALL TABLES).").
					Example([]any{"public.orders", "public.customers"}),
				config.String("slot", "The replication slot; one per input, never shared. By default pipeline_<pipeline "+
					"name>.").Example("orders_cdc"),
				config.String("publication", "The publication; by default the slot's name.").Example("dbz_publication"),
				config.Bool("create_publication", "Create the publication when it is missing (FOR TABLE the tables, or FOR "+
					"ALL TABLES). Off: a missing publication, or one without a table, is an error.").Default(true),
				config.String("snapshot_mode", "When to read the tables whole before streaming: initial, when no position "+
					"was committed; no_data (or never), never: stream from the slot; when_needed, also when the slot is "+
					"gone; initial_only: read them once and end, without a slot.").Default(capture.SnapshotInitial).
					Enum(capture.SnapshotModes...),
				config.String("topic_prefix", "The first part of each change's topic name, meta.topic: "+
					"<topic_prefix>.<schema>.<table>, as Debezium names topics, and the envelope's source.name.").
					Default("pg").Example("pg", "inventory"),
				config.Duration("heartbeat_interval", "How often the input tells the server how far it got, also while the "+
					"captured tables are idle: the slot then lets go of WAL the other tables' writes fill.").
					Default("10s").Advanced(),
				config.Int("batch_max_events", "The most changes in one batch; a batch may hold several transactions, and a "+
					"large transaction several batches.").Default(1024).Advanced(),
				config.String("unavailable_value_placeholder", "The value of a column PostgreSQL did not send because it is "+
					"unchanged and stored out of line (TOAST), so that it is never taken for NULL.").
					Default("__debezium_unavailable_value").Advanced(),
			}, cdcevent.Fields()...),
			Example: `input:
  postgres_cdc:
    dsn: ${PG_DSN:postgres://postgres@127.0.0.1:5432/app}
    tables: [public.orders]
    slot: orders_cdc`,
		},
		New: New,
	}
}

// settings are the parsed config.
type settings struct {
	conf         *config.Parsed
	dsn          string
	tables       []tableName
	slot         string
	publication  string
	createPub    bool
	snapshotMode string
	prefix       string
	events       cdcevent.Builder
	heartbeat    time.Duration
	batchMax     int
	placeholder  string
	mapping      sqldb.Mapping
}

// Input is a running postgres_cdc input.
type Input struct {
	settings
	label string
	log   *slog.Logger

	resumed  *position // from Resume
	database string    // the database's name, for the envelope

	loop *capture.Loop // runs the sessions, hands their batches to Read

	mu           sync.Mutex
	confirmed    pglogrepl.LSN // what the server may let go of
	committed    position      // the engine's last commit
	committedSet bool
	handedOn     position // the position of the last batch handed on
	handedOnSet  bool

	asTable       bool // read as a join's table (ReadAsTable)
	caughtUp      bool // as a table: Read returned the whole snapshot
	tableSlotMade bool // as a table: the temporary slot was made once
}

var slotChars = regexp.MustCompile(`[^a-z0-9_]+`)

// New builds a postgres_cdc input from its config. It connects to nothing.
func New(conf *config.Parsed, res *engine.Resources) (engine.Input, error) {
	s := settings{
		conf:         conf,
		dsn:          conf.Secret("dsn").Reveal(),
		slot:         conf.String("slot"),
		publication:  conf.String("publication"),
		createPub:    conf.Bool("create_publication"),
		snapshotMode: capture.SnapshotMode(conf.String("snapshot_mode")),
		prefix:       conf.String("topic_prefix"),
		events:       cdcevent.NewBuilder(conf),
		heartbeat:    conf.Duration("heartbeat_interval"),
		batchMax:     conf.Int("batch_max_events"),
		placeholder:  conf.String("unavailable_value_placeholder"),
		mapping:      cdcevent.MappingOf(conf),
	}
	var errs config.Errors
	if err := sqldb.CheckDSN(sqldb.Postgres, s.dsn); err != nil {
		errs = append(errs, conf.Errorf("dsn", "%s", config.Redact(err.Error(), s.dsn)))
	}
	for i, t := range conf.StringList("tables") {
		name, err := parseTableName(t)
		if err != nil {
			errs = append(errs, conf.Errorf("tables", "entry %d: %v", i+1, err))
			continue
		}
		s.tables = append(s.tables, name)
	}
	if s.slot == "" {
		s.slot = defaultSlot(res.Pipeline)
	}
	if !validSlot(s.slot) {
		errs = append(errs, conf.Errorf("slot", "%q is not a slot name: lower-case letters, digits and _, at most 63", s.slot))
	}
	if s.publication == "" {
		s.publication = s.slot
	}
	if !validSlot(s.publication) {
		errs = append(errs, conf.Errorf("publication", "%q is not a publication name this input takes: lower-case letters, digits and _, at most 63", s.publication))
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
	in.loop = capture.NewLoop("postgres_cdc", "slot "+s.slot, in.log)
	return in, nil
}

func defaultSlot(pipeline string) string {
	name := "pipeline_" + strings.Trim(slotChars.ReplaceAllString(strings.ToLower(pipeline), "_"), "_")
	if len(name) > 63 {
		name = name[:63]
	}
	return strings.TrimRight(name, "_")
}

func validSlot(s string) bool {
	return s != "" && len(s) <= 63 && !slotChars.MatchString(s)
}
