package engine

import (
	"time"

	"github.com/pipelinehq/pipeline/config"
)

// Error handling modes for records a processor fails on.
const (
	OnErrorStop       = "stop"
	OnErrorDeadLetter = "dead_letter"
)

// Processing guarantees.
const (
	AtLeastOnce = "at_least_once"
	ExactlyOnce = "exactly_once"
)

// RootFields are the top-level fields of a config file.
func RootFields() []config.Field {
	return []config.Field{
		config.String("name", "The pipeline's name. It names the default Kafka consumer group, the transactional id and the state directory. Defaults to the config file's name without extension.").
			Example("wordcount"),
		config.String("processing_guarantee", "at_least_once: every record is written at least once, positions are committed after their records are written. exactly_once: Kafka to Kafka only: the outputs' records, state changelogs and input offsets commit in one Kafka transaction, every commit_interval (default 100ms then); a reader with read_committed sees each input record's results exactly once, across crashes.").
			Default(AtLeastOnce).Enum(AtLeastOnce, ExactlyOnce),
		config.Component("input", "input", "The pipeline's source."),
		config.ComponentMap("inputs", "input", "Further named sources; their records enter the same processor chain."),
		config.Object("pipeline", "The processor chain every record goes through.",
			config.ComponentList("processors", "processor", "Processors, applied in order.").Default(nil),
		),
		config.Component("output", "output", "Where records that reach the end of the processor chain are written."),
		config.ComponentMap("outputs", "output", "Named outputs, for branch routes and the dead-letter output."),
		config.String("on_error", "What happens to a record a processor fails on: stop the pipeline with the error, or send the record to the dead_letter output with the error in its headers.").
			Default(OnErrorStop).Enum(OnErrorStop, OnErrorDeadLetter),
		config.Component("dead_letter", "output", "Where failed records go when on_error is dead_letter. Each keeps its original key and value and gains the headers error, error_component and error_source."),
		config.Object("http", "The operations server: /ping, /ready, /metrics and POST /reload.",
			config.Bool("enabled", "Serve the operations endpoints.").Default(true),
			config.String("address", "The address to listen on. The default, loopback, serves this machine only; 0.0.0.0:4195 serves every interface. When the config does not set it, the environment variable PIPELINE_HTTP_ADDRESS replaces the default (the container image sets 0.0.0.0:4195).").Default("127.0.0.1:4195"),
			config.String("auth_token", "When set, POST /reload requires it as \"Authorization: Bearer <token>\" and answers 401 without it; /ping, /ready and /metrics stay open. A secret: give it as ${ENV}; it is never printed.").
				Example("${PIPELINE_AUTH_TOKEN}").Secret(),
		),
		config.Object("logger", "Log output.",
			config.String("level", "The lowest level logged.").Default("info").Enum("debug", "info", "warn", "error"),
			config.String("format", "Log line format.").Default("text").Enum("text", "json"),
		),
		config.Duration("shutdown_timeout", "How long a stop may take to drain: records read are written and their positions committed. Past it, what is unwritten is abandoned uncommitted and the run fails.").Default("20s"),
		config.Duration("commit_interval", "How often input positions of written records (and, in stateful pipelines, the state that goes with them) are committed. When not given: 100ms under exactly_once (each commit ends a Kafka transaction, as in Kafka Streams), otherwise 1s, or 10s for pipelines with state, where a commit writes every changed key (Kafka Streams uses 30s). A crash re-reads at most one interval.").Example("1s", "10s"),
		config.ByteSize("memory_limit", "A soft limit on the process's Go heap (as GOMEMLIMIT): the garbage collector works harder as the heap nears it, and runs less often while it is far (GOGC 200). Unset: no limit. The GOMEMLIMIT and GOGC environment variables win over it.").Example("256MiB"),
		config.Int("max_in_flight", "How many input batches may be read but not yet fully written; reading waits beyond it (backpressure).").Default(64),
		stateFields(),
		exactlyOnceFields(),
		config.Object("output_retry", "How a failed output write is retried before the pipeline stops without committing its records.",
			config.Int("max_retries", "Retries after the first failed attempt.").Default(5),
			config.Duration("initial_backoff", "The wait before the first retry; it doubles with each retry.").Default("100ms"),
			config.Duration("max_backoff", "The longest wait between retries.").Default("5s"),
		),
	}
}

// Settings are the engine-level values of a config.
type Settings struct {
	Name                string
	ProcessingGuarantee string
	OnError             string
	HTTPEnabled         bool
	HTTPAddress         string
	HTTPAuthToken       config.Secret
	LogLevel            string
	LogFormat           string
	ShutdownTimeout     time.Duration
	CommitInterval      time.Duration
	MaxInFlight         int
	MemoryLimit         int64
	MaxRetries          int
	InitialBackoff      time.Duration
	MaxBackoff          time.Duration
	// Exactly-once.
	TransactionalID       string
	MaxTransactionRecords int
}

func settingsFrom(root *config.Parsed, defaultName string) Settings {
	s := Settings{
		Name:                  root.String("name"),
		ProcessingGuarantee:   root.String("processing_guarantee"),
		OnError:               root.String("on_error"),
		HTTPEnabled:           root.Object("http").Bool("enabled"),
		HTTPAddress:           root.Object("http").String("address"),
		HTTPAuthToken:         root.Object("http").Secret("auth_token"),
		LogLevel:              root.Object("logger").String("level"),
		LogFormat:             root.Object("logger").String("format"),
		ShutdownTimeout:       root.Duration("shutdown_timeout"),
		CommitInterval:        root.Duration("commit_interval"),
		MaxInFlight:           root.Int("max_in_flight"),
		MemoryLimit:           root.ByteSize("memory_limit"),
		MaxRetries:            root.Object("output_retry").Int("max_retries"),
		InitialBackoff:        root.Object("output_retry").Duration("initial_backoff"),
		MaxBackoff:            root.Object("output_retry").Duration("max_backoff"),
		TransactionalID:       root.Object("exactly_once").String("transactional_id"),
		MaxTransactionRecords: root.Object("exactly_once").Int("max_records"),
	}
	if s.Name == "" {
		s.Name = defaultName
	}
	return s
}
