package kafkaclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/pipelinehq/pipeline/config"
)

// ConnectionFields are the fields every Kafka component has.
func ConnectionFields() []config.Field {
	return []config.Field{
		config.StringList("brokers", "Seed brokers, host:port. An item may hold several, separated by commas, so one ${KAFKA_BROKERS} can list them all.").
			Required().Example([]any{"${KAFKA_BROKERS:127.0.0.1:9092}"}),
		config.String("client_id", "The client id brokers see.").Default("pipeline"),
		config.Object("tls", "TLS to the brokers.",
			config.Bool("enabled", "Connect with TLS.").Default(false),
			config.String("ca_file", "PEM file of the certificate authorities to trust; the system's when empty.").Example("/etc/pipeline/ca.pem"),
			config.String("cert_file", "PEM client certificate, for mutual TLS.").Example("/etc/pipeline/client.pem"),
			config.String("key_file", "PEM key of the client certificate.").Example("/etc/pipeline/client-key.pem"),
			config.Bool("skip_verify", "Do not verify the brokers' certificates (testing only).").Default(false),
		),
		config.Object("sasl", "SASL authentication. Give the password as ${ENV}: it is never printed.",
			config.String("mechanism", "The SASL mechanism; none disables SASL.").Default("none").Enum("none", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"),
			config.String("user", "The user name.").Example("pipeline"),
			config.String("password", "The password, best given as ${ENV}. It is a secret: never printed in errors or logs.").Example("${KAFKA_PASSWORD}").Secret(),
		),
	}
}

// Connection is a validated connection config; Options turns it into client
// options (reading certificate files then, at start, not at lint).
type Connection struct {
	Brokers   []string
	clientID  string
	tls       bool
	caFile    string
	certFile  string
	keyFile   string
	skipCheck bool
	mechanism string
	user      string
	password  config.Secret
}

// String describes the connection without its secrets, so that printing a
// Connection (%v, %+v, %#v, slog) never shows the password.
func (c Connection) String() string {
	s := fmt.Sprintf("kafka brokers %v client_id %q", c.Brokers, c.clientID)
	if c.tls {
		s += fmt.Sprintf(" tls{ca_file %q cert_file %q key_file %q skip_verify %t}", c.caFile, c.certFile, c.keyFile, c.skipCheck)
	}
	if c.mechanism != "none" && c.mechanism != "" {
		s += fmt.Sprintf(" sasl{%s user %q password %v}", c.mechanism, c.user, c.password)
	}
	return s
}

// GoString implements fmt.GoStringer (%#v) without the password.
func (c Connection) GoString() string { return c.String() }

// LogValue implements slog.LogValuer without the password.
func (c Connection) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Format implements fmt.Formatter: every verb prints String, never the fields.
func (c Connection) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", c.String())
		return
	}
	fmt.Fprint(f, c.String())
}

// ParseConnection reads and checks the connection fields of conf.
func ParseConnection(conf *config.Parsed) (*Connection, error) {
	c := &Connection{clientID: conf.String("client_id")}
	for _, item := range conf.StringList("brokers") {
		for _, b := range strings.Split(item, ",") {
			if b = strings.TrimSpace(b); b != "" {
				c.Brokers = append(c.Brokers, b)
			}
		}
	}
	var errs config.Errors
	if len(c.Brokers) == 0 && conf.Has("brokers") {
		errs = append(errs, conf.Errorf("brokers", "give at least one broker address"))
	}
	t := conf.Object("tls")
	c.tls, c.caFile, c.certFile, c.keyFile, c.skipCheck = t.Bool("enabled"), t.String("ca_file"), t.String("cert_file"), t.String("key_file"), t.Bool("skip_verify")
	if (c.certFile == "") != (c.keyFile == "") {
		errs = append(errs, t.Errorf("cert_file", "give both cert_file and key_file, or neither"))
	}
	s := conf.Object("sasl")
	c.mechanism, c.user, c.password = s.String("mechanism"), s.String("user"), s.Secret("password")
	if c.mechanism != "none" && c.user == "" {
		errs = append(errs, s.Errorf("user", "SASL %s needs a user", c.mechanism))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return c, nil
}

// Options are the franz-go options for this connection.
func (c *Connection) Options() ([]kgo.Opt, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(c.Brokers...), kgo.ClientID(c.clientID)}
	if c.tls {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.skipCheck} //nolint:gosec // an explicit test-only option
		if c.caFile != "" {
			pem, err := os.ReadFile(c.caFile)
			if err != nil {
				return nil, fmt.Errorf("tls.ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("tls.ca_file: %s holds no PEM certificate", c.caFile)
			}
			cfg.RootCAs = pool
		}
		if c.certFile != "" {
			cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
			if err != nil {
				return nil, fmt.Errorf("tls.cert_file: %w", err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	switch c.mechanism {
	case "PLAIN":
		opts = append(opts, kgo.SASL(plain.Auth{User: c.user, Pass: c.password.Reveal()}.AsMechanism()))
	case "SCRAM-SHA-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: c.user, Pass: c.password.Reveal()}.AsSha256Mechanism()))
	case "SCRAM-SHA-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: c.user, Pass: c.password.Reveal()}.AsSha512Mechanism()))
	}
	return opts, nil
}

// TopicFields declare a topic a component needs, created when missing.
func TopicFields() config.Field {
	return config.Object("create_topic", "Create the topic at start when it does not exist.",
		config.Bool("enabled", "Create the topic when missing.").Default(false),
		config.Int("partitions", "Partitions of a created topic.").Default(1),
		config.Int("replication_factor", "Replication factor of a created topic.").Default(1),
		config.StringMap("configs", "Topic configs of a created topic.").Example(map[string]any{"cleanup.policy": "compact"}),
	)
}

// TopicSpec is a topic to create when missing.
type TopicSpec struct {
	Name              string
	Partitions        int32
	ReplicationFactor int16
	Configs           map[string]*string
}

// ParseTopic reads a create_topic object for the named topic; nil when
// creation is not asked for.
func ParseTopic(conf *config.Parsed, name string) *TopicSpec {
	if !conf.Bool("enabled") {
		return nil
	}
	t := &TopicSpec{Name: name, Partitions: int32(conf.Int("partitions")), ReplicationFactor: int16(conf.Int("replication_factor")), Configs: map[string]*string{}}
	for _, p := range conf.Map("configs") {
		v := p.Value
		t.Configs[p.Key] = &v
	}
	return t
}

// EnsureTopics creates the topics that do not exist yet.
func EnsureTopics(ctx context.Context, client *kgo.Client, topics ...*TopicSpec) error {
	adm := kadm.NewClient(client)
	for _, t := range topics {
		if t == nil {
			continue
		}
		resp, err := adm.CreateTopic(ctx, t.Partitions, t.ReplicationFactor, t.Configs, t.Name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("creating topic %s: %w", t.Name, err)
		}
	}
	return nil
}

// Connect makes a client and waits (up to 15 s, retrying) until a broker
// answers, so that a pipeline started beside its broker does not fail for
// being first; an unreachable address still fails, naming the brokers. A
// refused authentication (wrong SASL user or password, an untrusted or
// missing certificate) fails at once: retrying cannot help. No error it
// returns holds the password.
func Connect(ctx context.Context, conn *Connection, opts ...kgo.Opt) (*kgo.Client, error) {
	client, err := connect(ctx, conn, opts...)
	return client, config.RedactError(err, conn.password)
}

func connect(ctx context.Context, conn *Connection, opts ...kgo.Opt) (*kgo.Client, error) {
	connOpts, err := conn.Options()
	if err != nil {
		return nil, err
	}
	client, err := kgo.NewClient(append(connOpts, opts...)...)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		err = client.Ping(ctx)
		if err == nil {
			return client, nil
		}
		if what := conn.authFailure(err); what != "" {
			client.Close()
			return nil, fmt.Errorf("Kafka brokers %v refused %s: %w", conn.Brokers, what, err)
		}
		select {
		case <-ctx.Done():
			client.Close()
			return nil, fmt.Errorf("no Kafka broker answers at %v: %w", conn.Brokers, err)
		case <-time.After(wait):
		}
	}
}

// authFailure names what was refused when err is an authentication failure
// ("" otherwise): SASL credentials, or the TLS handshake.
func (c *Connection) authFailure(err error) string {
	switch {
	case errors.Is(err, kerr.SaslAuthenticationFailed), errors.Is(err, kerr.IllegalSaslState),
		errors.Is(err, kerr.UnsupportedSaslMechanism):
		return fmt.Sprintf("SASL %s authentication as user %q (check sasl.user and sasl.password)", c.mechanism, c.user)
	}
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	var alert tls.AlertError
	var remote *net.OpError // a TLS alert from the broker, e.g. "remote error: tls: bad certificate"
	if errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) ||
		errors.As(err, &verify) || errors.As(err, &alert) ||
		(errors.As(err, &remote) && remote.Op == "remote error" && strings.HasPrefix(remote.Err.Error(), "tls: ")) {
		return "the TLS handshake (check tls.ca_file, tls.cert_file and tls.key_file)"
	}
	return ""
}

// DefaultBatchMaxBytes is the largest record batch a producer sends to
// one partition, unless an output sets its own: 1 MiB, under the broker's
// default message.max.bytes (1048588), so that what the producer sends the
// broker takes.
const DefaultBatchMaxBytes = 1 << 20

// ProduceAll produces records with produce and calls done once, with the
// first error, when every record is acknowledged.
func ProduceAll(ctx context.Context, produce func(context.Context, *kgo.Record, func(*kgo.Record, error)), records []*kgo.Record, done func(error)) {
	var left atomic.Int64
	left.Store(int64(len(records)))
	var first atomic.Pointer[error]
	cb := func(r *kgo.Record, err error) {
		if err != nil {
			err = fmt.Errorf("producing to %s: %w", r.Topic, err)
			first.CompareAndSwap(nil, &err)
		}
		if left.Add(-1) == 0 {
			if e := first.Load(); e != nil {
				done(*e)
				return
			}
			done(nil)
		}
	}
	if len(records) == 0 {
		done(nil)
		return
	}
	for _, r := range records {
		produce(ctx, r, cb)
	}
}

// Check connects as Connect does and disconnects: whether a component on
// conn could start now (brokers answer, credentials accepted).
func Check(ctx context.Context, conn *Connection) error {
	client, err := Connect(ctx, conn)
	if err != nil {
		return err
	}
	client.Close()
	return nil
}
