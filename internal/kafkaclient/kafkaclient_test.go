package kafkaclient

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/pipelinehq/pipeline/config"
)

const testPassword = "Pw-never-printed-42"

func parseConn(t *testing.T, yaml string, env map[string]string, overrides ...string) (*Connection, error) {
	t.Helper()
	doc, err := config.Load("k.yaml", []byte(yaml), config.LoadOptions{
		Overrides: overrides,
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	})
	if err != nil {
		return nil, err
	}
	p, errs := config.Parse(doc.File, "input.kafka", doc.Root, ConnectionFields())
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return ParseConnection(p)
}

func TestPasswordFieldIsSecret(t *testing.T) {
	for _, f := range ConnectionFields() {
		if f.Name != "sasl" {
			continue
		}
		for _, sf := range f.Fields {
			if sf.Name == "password" && !sf.IsSecret {
				t.Fatal("sasl.password is not marked Secret")
			}
		}
		return
	}
	t.Fatal("no sasl field")
}

func TestConnectionNeverPrintsPassword(t *testing.T) {
	c, err := parseConn(t, "brokers: [b:9092]\nsasl: { mechanism: SCRAM-SHA-512, user: u, password: '${PW}' }\n",
		map[string]string{"PW": testPassword})
	if err != nil {
		t.Fatal(err)
	}
	if c.password.Reveal() != testPassword {
		t.Fatalf("password %q, want the environment's", c.password.Reveal())
	}
	var out []string
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		out = append(out, fmt.Sprintf(f, c), fmt.Sprintf(f, *c), fmt.Sprintf(f, []*Connection{c}))
	}
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("connecting", "conn", c)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("connecting", "conn", c)
	out = append(out, logs.String())
	all := strings.Join(out, "\n")
	if strings.Contains(all, testPassword) {
		t.Fatalf("the password was printed:\n%s", all)
	}
	if !strings.Contains(all, `sasl{SCRAM-SHA-512 user "u" password ***}`) {
		t.Fatalf("the connection does not describe itself:\n%s", all)
	}
}

func TestConfigErrorsNeverPrintPassword(t *testing.T) {
	for _, c := range []struct {
		yaml string
		sets []string
	}{
		{"brokers: [b]\nsasl: { mechanism: PLAIN, password: [" + testPassword + "] }\n", nil},
		{"brokers: [b]\nsasl: { mechanism: PLAIN, password: x }\n", []string{"sasl.password=[" + testPassword}},
		{"brokers: [b]\nsasl: { mechanism: PLAN, password: '${PW}' }\n", nil},
		{"brokers: [b]\nsasl: { mechanism: PLAIN, password: '${PW}' }\n", nil}, // no user
	} {
		_, err := parseConn(t, c.yaml, map[string]string{"PW": testPassword}, c.sets...)
		if err == nil {
			t.Fatalf("%q: no error", c.yaml)
		}
		if strings.Contains(err.Error(), testPassword) {
			t.Fatalf("the error prints the password:\n%v", err)
		}
	}
}

func newSASLCluster(t *testing.T) string {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(),
		kfake.Superuser("SCRAM-SHA-512", "admin", testPassword))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	return cluster.ListenAddrs()[0]
}

// kfake closes the connection on a wrong password instead of answering
// SASL_AUTHENTICATION_FAILED, so the fail-fast path is checked against the
// real broker in e2e/kafka_security_test.go; here: nothing prints a password.
func TestConnectWrongPasswordNeverPrintsIt(t *testing.T) {
	addr := newSASLCluster(t)
	const wrong = "Wrong-pw-also-secret-7"
	c, err := parseConn(t, fmt.Sprintf("brokers: [%q]\nsasl: { mechanism: SCRAM-SHA-512, user: admin, password: '${PW}' }\n", addr),
		map[string]string{"PW": wrong})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	client, err := Connect(ctx, c)
	if err == nil {
		client.Close()
		t.Fatal("connected with a wrong password")
	}
	if msg := err.Error(); strings.Contains(msg, wrong) || strings.Contains(msg, testPassword) || !strings.Contains(msg, addr) {
		t.Fatalf("error %q: want the broker named and no password", msg)
	}

	c.password = config.Secret(testPassword)
	client, err = Connect(context.Background(), c)
	if err != nil {
		t.Fatalf("the right password: %v", err)
	}
	client.Close()
}

func TestAuthFailureIsRecognised(t *testing.T) {
	c := &Connection{mechanism: "SCRAM-SHA-256", user: "u"}
	for _, err := range []error{
		fmt.Errorf("x: %w", kerr.SaslAuthenticationFailed),
		kerr.UnsupportedSaslMechanism,
		&net.OpError{Op: "remote error", Err: errors.New("tls: bad certificate")},
		fmt.Errorf("dial: %w", x509.UnknownAuthorityError{}),
	} {
		if c.authFailure(err) == "" {
			t.Errorf("%v is not seen as an authentication failure", err)
		}
	}
	for _, err := range []error{errors.New("EOF"), &net.OpError{Op: "dial", Err: errors.New("connection refused")}} {
		if what := c.authFailure(err); what != "" {
			t.Errorf("%v is seen as an authentication failure (%s)", err, what)
		}
	}
}

func TestRedactErrorKeepsCause(t *testing.T) {
	c := &Connection{Brokers: []string{"b"}, password: config.Secret(testPassword)}
	base := fmt.Errorf("a broker echoed %s", testPassword)
	err := config.RedactError(base, c.password)
	if strings.Contains(err.Error(), testPassword) || err.Error() != "a broker echoed ***" {
		t.Fatalf("RedactError = %q", err)
	}
}
