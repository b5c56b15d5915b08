package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
)

const testSecret = "hunter2-Secret"

var secretFields = []Field{
	Object("sasl", "",
		String("mechanism", "").Default("none").Enum("none", "PLAIN"),
		String("password", "").Secret(),
		String("pin", "").Enum("1234", "5678").Secret(),
	),
}

func parseSecret(t *testing.T, text string, overrides ...string) (*Parsed, string) {
	t.Helper()
	doc, err := Load("c.yaml", []byte(text), LoadOptions{
		Overrides: overrides,
		LookupEnv: env(map[string]string{"PW": testSecret}),
	})
	if err != nil {
		return nil, err.Error()
	}
	p, errs := Parse(doc.File, "", doc.Root, secretFields)
	if err := errs.Err(); err != nil {
		return p, err.Error()
	}
	return p, ""
}

func TestSecretFieldReadsAsSecret(t *testing.T) {
	p, errs := parseSecret(t, "sasl: { password: '${PW}' }\n")
	if errs != "" {
		t.Fatal(errs)
	}
	s := p.Object("sasl").Secret("password")
	if s.Reveal() != testSecret {
		t.Fatalf("Reveal() = %q, want the value", s.Reveal())
	}
	if !secretFields[0].Fields[1].IsSecret {
		t.Fatal("Secret() does not set IsSecret")
	}
}

func TestSecretNeverFormats(t *testing.T) {
	s := Secret(testSecret)
	type holder struct {
		User     string
		Password Secret
	}
	h := holder{"u", s}
	var out []string
	for _, f := range []string{"%s", "%v", "%+v", "%#v", "%q", "%x", "%X", "%10s", "%d"} {
		out = append(out, fmt.Sprintf(f, s), fmt.Sprintf(f, h), fmt.Sprintf(f, &h))
	}
	out = append(out, fmt.Sprint(s), fmt.Sprintln(s), s.String(), s.GoString())
	j, _ := json.Marshal(h)
	out = append(out, string(j))
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "password", s, "h", h)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "password", s)
	out = append(out, logs.String())
	all := strings.Join(out, "\n")
	if strings.Contains(all, testSecret) || strings.Contains(all, fmt.Sprintf("%x", testSecret)) {
		t.Fatalf("a secret was printed:\n%s", all)
	}
	if !strings.Contains(all, Redacted) {
		t.Fatalf("no %s printed:\n%s", Redacted, all)
	}
	if got := fmt.Sprint(Secret("")); got != "" {
		t.Fatalf("an empty secret prints %q, want nothing", got)
	}
}

func TestSecretFieldErrorsAreRedacted(t *testing.T) {
	for _, c := range []struct {
		name, yaml string
		sets       []string
		want       string
	}{
		{"enum", "sasl: { pin: " + testSecret + " }\n", nil, `c.yaml:1:14: sasl.pin: "***" is not one of 1234, 5678`},
		{"enum via env", "sasl: { pin: '${PW}' }\n", nil, `"***" is not one of`},
		{"enum via --set", "", []string{"sasl.pin=" + testSecret}, `c.yaml (--set): sasl.pin: "***" is not one of`},
		{"list", "sasl: { password: [" + testSecret + "] }\n", nil, "sasl.password: want a string, got a list"},
		{"invalid YAML in --set", "", []string{"sasl.password=[" + testSecret}, "--set sasl.password=***: value is not valid YAML"},
		{"through a secret in --set", "sasl: { password: x }\n", []string{"sasl.password." + testSecret + "=y"}, "--set sasl.password.***=***: sasl.password: cannot set a field inside a scalar value"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, errs := parseSecret(t, c.yaml, c.sets...)
			if strings.Contains(errs, testSecret) {
				t.Fatalf("the error prints the secret:\n%s", errs)
			}
			if !strings.Contains(errs, c.want) {
				t.Fatalf("error\n%s\ndoes not contain\n%s", errs, c.want)
			}
		})
	}
}

func TestNonSecretErrorsKeepValues(t *testing.T) {
	_, errs := parseSecret(t, "sasl: { mechanism: PLAN }\n", "nope.x=1", "name.y=2")
	if !strings.Contains(errs, `"PLAN" is not one of none, PLAIN, did you mean "PLAIN"?`) {
		t.Fatalf("a non-secret enum error lost its value:\n%s", errs)
	}
}

func TestRedactAndRedactError(t *testing.T) {
	if got := Redact(`user "u" pw hunter2 and "a\"b"`, "hunter2", `a"b`, ""); got != `user "u" pw *** and "***"` {
		t.Fatalf("Redact = %q", got)
	}
	base := errors.New("login with " + testSecret + " failed")
	err := RedactError(fmt.Errorf("connect: %w", base), Secret(testSecret))
	if err.Error() != "connect: login with *** failed" || !errors.Is(err, base) {
		t.Fatalf("RedactError = %q (errors.Is %v)", err, errors.Is(err, base))
	}
	if RedactError(base, "") != base || RedactError(nil, "x") != nil {
		t.Fatal("RedactError changed an error without secrets")
	}
}

func TestIsSecretPath(t *testing.T) {
	for path, want := range map[string]bool{
		"input.kafka.sasl.password": true, "password": true, "outputs.x.kafka.sasl.PASSWORD": true,
		"input.kafka.sasl.user": false, "input.kafka.brokers.0": false, "passwords": false,
		// pin is declared secret by secretFields, which changes nothing
		// beyond those fields.
		"outputs.x.kafka.sasl.pin": false,
	} {
		if got := IsSecretPath(path); got != want {
			t.Errorf("IsSecretPath(%q) = %v, want %v", path, got, want)
		}
	}
	if !IsSecretPath("outputs.x.kafka.sasl.pin", SecretNames(secretFields)...) || !IsSecretPath("a.Pin", "pin") {
		t.Error("a name given as a secret name is not secret")
	}
	if got := SecretNames(secretFields); !slices.Equal(got, []string{"password", "pin"}) {
		t.Errorf("SecretNames = %v", got)
	}
}

// TestDeclaringASecretChangesNoGlobalState: Field.Secret marks the field
// it returns and nothing else, so that specs can be built concurrently
// (run with -race) and one spec's secrets do not leak into another's.
func TestDeclaringASecretChangesNoGlobalState(t *testing.T) {
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("credential_%d", i)
			spec := Spec{Name: "x", Fields: []Field{Object("auth", "", String(name, "").Secret())}}
			if !spec.Fields[0].Fields[0].IsSecret {
				t.Error("Secret() does not set IsSecret")
			}
			_, err := Load("c.yaml", []byte("auth: {"+name+": x}\n"), LoadOptions{LookupEnv: env(nil),
				Overrides:   []string{"auth." + name + "." + testSecret + "=" + testSecret},
				SecretNames: SecretNames(spec.Fields)})
			want := "--set auth." + name + ".***=***: auth." + name + ": cannot set a field inside a scalar value"
			if err == nil || err.Error() != want {
				t.Errorf("a --set through a declared secret: %v, want %s", err, want)
			}
		}()
	}
	wg.Wait()
	if IsSecretPath("auth.credential_1") {
		t.Fatal("declaring a secret field made its name secret for every config")
	}
	_, err := Load("c.yaml", []byte("auth: {credential_1: x}\n"), LoadOptions{LookupEnv: env(nil), Overrides: []string{"auth.credential_1.deeper=shown"}})
	if err == nil || err.Error() != "--set auth.credential_1.deeper=shown: auth.credential_1: cannot set a field inside a scalar value" {
		t.Fatalf("a --set through a field no spec given declares secret: %v", err)
	}
}
