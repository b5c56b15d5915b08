package e2e

// Kafka security against the real broker: the built binary runs a
// Kafka → map → Kafka pipeline whose input and output both connect with SASL
// (SCRAM-SHA-512, SCRAM-SHA-256, PLAIN), with mutual TLS, and with SCRAM over
// TLS, the password coming from ${KAFKA_PASSWORD}. kcat, an independent
// client, produces the input and reads the output back over a listener of the
// same kind (with SASL PLAIN where the pipeline uses SCRAM: see the note on
// kafkaBroker.KcatSASLPlain). Wrong credentials fail at once, exit 1, name the
// brokers and what was refused, and never print a password.

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// kafkaSecureConn is the YAML of a component's connection fields (indented
// for a component mapping) and how kcat reaches the same broker.
type kafkaSecureConn struct {
	name     string
	yaml     string
	password string // KAFKA_PASSWORD for the pipeline; "" when not used
	kcat     []string
}

func saslConn(addr, mechanism, user string, tlsCA string) string {
	s := fmt.Sprintf("    brokers: [%q]\n    sasl: { mechanism: %s, user: %q, password: \"${KAFKA_PASSWORD}\" }\n", addr, mechanism, user)
	if tlsCA != "" {
		s += fmt.Sprintf("    tls: { enabled: true, ca_file: %q }\n", tlsCA)
	}
	return s
}

func mtlsConn(b *kafkaBroker, withClientCert bool) string {
	s := fmt.Sprintf("    brokers: [%q]\n    tls:\n      enabled: true\n      ca_file: %q\n", b.SSL, b.CAFile)
	if withClientCert {
		s += fmt.Sprintf("      cert_file: %q\n      key_file: %q\n", b.CertFile, b.KeyFile)
	}
	return s
}

func kafkaSecureConns(b *kafkaBroker) []kafkaSecureConn {
	return []kafkaSecureConn{
		{"SASL_PLAINTEXT-SCRAM-SHA-512", saslConn(b.SASLPlaintext, "SCRAM-SHA-512", b.ScramUser, ""), b.ScramPassword, b.KcatSASLPlain()},
		{"SASL_PLAINTEXT-SCRAM-SHA-256", saslConn(b.SASLPlaintext, "SCRAM-SHA-256", b.ScramUser, ""), b.ScramPassword, b.KcatSASLPlain()},
		{"SASL_PLAINTEXT-PLAIN", saslConn(b.SASLPlaintext, "PLAIN", b.PlainUser, ""), b.PlainPassword, b.KcatSASLPlain()},
		{"SSL-client-certificate", mtlsConn(b, true), "", b.KcatSSL()},
		{"SASL_SSL-SCRAM-SHA-512", saslConn(b.SASLSSL, "SCRAM-SHA-512", b.ScramUser, b.CAFile), b.ScramPassword, b.KcatSASLSSL()},
	}
}

func securePipelineConfig(t *testing.T, conn, in, out, group string) string {
	return writeConfig(t, fmt.Sprintf(`
name: kafka-security
input:
  kafka:
%[1]s    topics: [%[2]q]
    consumer_group: %[4]q
    start_from: earliest
    codec: json
pipeline:
  processors:
    - map: { set: { doubled: 'value.n * 2' } }
output:
  kafka:
%[1]s    topic: %[3]q
    create_topic: { enabled: true, partitions: 3 }
http: { enabled: false }
commit_interval: 100ms
`, conn, in, out, group))
}

// startPipelineEnv is startPipeline with extra environment variables.
func startPipelineEnv(t *testing.T, cfg string, env ...string) *bgPipeline {
	t.Helper()
	return startPipelineArgs(t, env, "run", "-c", cfg)
}

// kcatReadSecure reads a whole topic with kcat over conn, sorted.
func kcatReadSecure(conn []string, topic, format string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := append(slices.Clone(conn), "-C", "-t", topic, "-e", "-q", "-f", format)
	cmd := exec.CommandContext(ctx, "kcat", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("kcat -C %s: %v: %s", topic, err, stderr.String())
	}
	s := strings.TrimSuffix(string(out), "\n")
	if s == "" {
		return nil, nil
	}
	lines := strings.Split(s, "\n")
	slices.Sort(lines)
	return lines, nil
}

// awaitSecure polls topic over conn until it holds n records.
func awaitSecure(t *testing.T, p *bgPipeline, conn []string, topic string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, err := kcatReadSecure(conn, topic, "%k %s\n")
		if len(got) >= n {
			return got
		}
		if p.exited() {
			t.Fatalf("the pipeline exited before the output arrived:\n%s", p.stderr())
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60s %s holds %d records, want %d (last kcat error: %v)\n%s", topic, len(got), n, err, p.stderr())
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// requireNoSecret fails when any secret appears in out.
func requireNoSecret(t *testing.T, what, out string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(out, s) {
			t.Fatalf("%s prints a password (%d characters):\n%s", what, len(s), strings.ReplaceAll(out, s, "<THE PASSWORD>"))
		}
	}
}

// TestKafkaSecurityPipeline runs Kafka → map → Kafka over each security
// listener and asserts the exact output, read back by kcat.
func TestKafkaSecurityPipeline(t *testing.T) {
	t.Parallel()
	b := startKafkaBroker(t)
	for _, c := range kafkaSecureConns(b) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			in, out, group := kafkaTestName(t, "in"), kafkaTestName(t, "out"), kafkaTestName(t, "group")
			const n = 100
			var lines, want []string
			for i := range n {
				lines = append(lines, fmt.Sprintf(`k%d:{"n":%d}`, i, i))
				want = append(want, fmt.Sprintf(`k%d {"doubled":%d,"n":%d}`, i, 2*i, i))
			}
			// The input topic is created by this first produce, over the secured listener.
			kcat(t, strings.Join(lines, "\n")+"\n", append(slices.Clone(c.kcat), "-P", "-t", in, "-K:")...)

			began := time.Now()
			p := startPipelineEnv(t, securePipelineConfig(t, c.yaml, in, out, group), "KAFKA_PASSWORD="+c.password)
			awaitSecure(t, p, c.kcat, out, n)
			p.stop(t)
			got, err := kcatReadSecure(c.kcat, out, "%k %s\n")
			if err != nil {
				t.Fatal(err)
			}
			requireLines(t, out, got, want)
			requireNoSecret(t, "the pipeline's stderr", p.stderr(), b.ScramPassword, b.PlainPassword)
			t.Logf("%d records through %s, exact, in %v", n, c.name, time.Since(began).Round(time.Millisecond))
		})
	}
}

// TestKafkaSecurityRefused runs pipelines with a wrong password or without the
// client certificate: each fails at once with exit code 1, names the brokers
// and what was refused, and prints neither the right password nor the wrong one.
func TestKafkaSecurityRefused(t *testing.T) {
	t.Parallel()
	b := startKafkaBroker(t)
	const wrong = "wrong-Pa55word-e2e"
	for _, c := range []struct {
		name, conn, password, addr, want string
	}{
		{"SCRAM-SHA-512-wrong-password", saslConn(b.SASLPlaintext, "SCRAM-SHA-512", b.ScramUser, ""), wrong, b.SASLPlaintext, "SASL SCRAM-SHA-512 authentication"},
		{"SCRAM-SHA-256-wrong-password", saslConn(b.SASLPlaintext, "SCRAM-SHA-256", b.ScramUser, ""), wrong, b.SASLPlaintext, "SASL SCRAM-SHA-256 authentication"},
		{"PLAIN-wrong-password", saslConn(b.SASLPlaintext, "PLAIN", b.PlainUser, ""), wrong, b.SASLPlaintext, "SASL PLAIN authentication"},
		{"PLAIN-password-of-another-user", saslConn(b.SASLPlaintext, "PLAIN", b.PlainUser, ""), b.ScramPassword, b.SASLPlaintext, "SASL PLAIN authentication"},
		{"SASL_SSL-wrong-password", saslConn(b.SASLSSL, "SCRAM-SHA-512", b.ScramUser, b.CAFile), wrong, b.SASLSSL, "SASL SCRAM-SHA-512 authentication"},
		{"SSL-without-client-certificate", mtlsConn(b, false), "", b.SSL, "TLS handshake"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := securePipelineConfig(t, c.conn, kafkaTestName(t, "in"), kafkaTestName(t, "out"), kafkaTestName(t, "group"))
			began := time.Now()
			_, stderr, code := runPipeline(t, []string{"KAFKA_PASSWORD=" + c.password}, "run", "-c", cfg)
			elapsed := time.Since(began)
			requireNoSecret(t, "stderr", stderr, wrong, b.ScramPassword, b.PlainPassword)
			if code != 1 {
				t.Fatalf("exit code %d, want 1\n%s", code, stderr)
			}
			for _, w := range []string{c.addr, "refused", c.want} {
				if !strings.Contains(stderr, w) {
					t.Fatalf("stderr does not say %q:\n%s", w, stderr)
				}
			}
			// Refused credentials are not retried for the 15 s a broker gets to come up.
			if elapsed > 12*time.Second {
				t.Fatalf("refused after %v, want at once\n%s", elapsed.Round(time.Millisecond), stderr)
			}
			t.Logf("refused in %v: %s", elapsed.Round(time.Millisecond), strings.TrimSpace(stderr))
		})
	}
}

// TestKafkaSecurityLintSecrets checks that lint never prints a password given
// with --set, even in an error about that very setting or field.
func TestKafkaSecurityLintSecrets(t *testing.T) {
	t.Parallel()
	const secret = "s3cret-Lint-Pw"
	cfg := securePipelineConfig(t, saslConn("127.0.0.1:9", "SCRAM-SHA-512", "u", ""), "in", "out", "g")
	for _, args := range [][]string{
		{"--set", "input.kafka.sasl.password=[" + secret},              // not valid YAML
		{"--set", "input.kafka.sasl.password=[" + secret + "]"},        // a list, not a string
		{"--set", "output.kafka.sasl.password={" + secret + ": x}"},    // a mapping
		{"--set", "input.kafka.sasl.password." + secret + "=x"},        // through a scalar
		{"--set", "input.kafka.sasl.password=" + secret, "--set", "x"}, // valid, another error
	} {
		stdout, stderr, code := runPipeline(t, []string{"KAFKA_PASSWORD=" + secret}, append([]string{"lint", cfg}, args...)...)
		if code == 0 || !strings.Contains(stderr, "--set") {
			t.Fatalf("lint %q: exit %d, want an error about --set\n%s%s", args, code, stdout, stderr)
		}
		requireNoSecret(t, fmt.Sprintf("lint %q", args), stdout+stderr, secret)
		t.Logf("lint %q:\n%s", args, strings.TrimSpace(stderr))
	}
}

// TestKafkaBrokerRestart stops and starts a broker of the test's own: the
// ports, topics, users and certificates stay, and a consumer group's committed
// offsets too (a second pipeline run reads nothing again).
func TestKafkaBrokerRestart(t *testing.T) {
	t.Parallel()
	b := newKafkaBroker(t)
	in, out, group := kafkaTestName(t, "in"), kafkaTestName(t, "out"), kafkaTestName(t, "group")
	cfg := securePipelineConfig(t, saslConn(b.SASLPlaintext, "SCRAM-SHA-512", b.ScramUser, ""), in, out, group)
	produce := func(from, to int) (want []string) {
		var lines []string
		for i := from; i < to; i++ {
			lines = append(lines, fmt.Sprintf(`k%d:{"n":%d}`, i, i))
			want = append(want, fmt.Sprintf(`k%d {"doubled":%d,"n":%d}`, i, 2*i, i))
		}
		kcat(t, strings.Join(lines, "\n")+"\n", append(b.KcatSSL(), "-P", "-t", in, "-K:")...)
		return want
	}

	want := produce(0, 50)
	p := startPipelineEnv(t, cfg, "KAFKA_PASSWORD="+b.ScramPassword)
	awaitSecure(t, p, b.KcatSSL(), out, len(want))
	p.stop(t)

	b.Stop(t)
	if _, err := kcatReadSecure([]string{"-b", b.Bootstrap, "-m", "2"}, out, "%s\n"); err == nil {
		t.Fatalf("kcat still reads %s from the stopped broker", out)
	}
	b.Start(t)
	got, err := kcatReadSecure(b.KcatSSL(), out, "%k %s\n")
	if err != nil {
		t.Fatal(err)
	}
	requireLines(t, "after the restart, "+out, got, want)

	want = append(want, produce(50, 60)...)
	p = startPipelineEnv(t, cfg, "KAFKA_PASSWORD="+b.ScramPassword)
	awaitSecure(t, p, b.KcatSASLPlain(), out, len(want))
	time.Sleep(2 * time.Second) // time for anything re-read to show up
	p.stop(t)
	got, err = kcatReadSecure(b.KcatSASLPlain(), out, "%k %s\n")
	if err != nil {
		t.Fatal(err)
	}
	requireLines(t, "second run after the restart, "+out, got, want)
}
