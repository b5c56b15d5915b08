package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Redacted is what is printed instead of a secret value.
const Redacted = "***"

// Secret is a value that is never printed: every fmt verb, JSON, text and
// slog show *** (or nothing, when it is empty). Reveal returns the value, for
// the one place that needs it (for example a SASL mechanism).
type Secret string

// Reveal returns the secret value itself. Never log or format its result.
func (s Secret) Reveal() string { return string(s) }

func (s Secret) redacted() string {
	if s == "" {
		return ""
	}
	return Redacted
}

// String implements fmt.Stringer.
func (s Secret) String() string { return s.redacted() }

// GoString implements fmt.GoStringer, for %#v.
func (s Secret) GoString() string { return strconv.Quote(s.redacted()) }

// Format implements fmt.Formatter, so that no verb (%s, %v, %q, %x, ...)
// prints the value.
func (s Secret) Format(f fmt.State, verb rune) {
	switch verb {
	case 'q':
		fmt.Fprint(f, strconv.Quote(s.redacted()))
	case 'v':
		if f.Flag('#') {
			fmt.Fprint(f, s.GoString())
			return
		}
		fmt.Fprint(f, s.redacted())
	default:
		fmt.Fprint(f, s.redacted())
	}
}

// MarshalJSON implements json.Marshaler.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.redacted()) }

// MarshalText implements encoding.TextMarshaler.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.redacted()), nil }

// MarshalYAML implements yaml.Marshaler.
func (s Secret) MarshalYAML() (any, error) { return s.redacted(), nil }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.redacted()) }

// Secret reads a string field as a Secret. The field should be declared with
// Field.Secret.
func (p *Parsed) Secret(name string) Secret {
	v, _ := p.get(name, KindString).v.(string)
	return Secret(v)
}

// Redact replaces every occurrence of each non-empty secret in s with ***,
// also in the escaped form %q would print.
func Redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec == "" {
			continue
		}
		s = strings.ReplaceAll(s, sec, Redacted)
		if q := strconv.Quote(sec); q[1:len(q)-1] != sec {
			s = strings.ReplaceAll(s, q[1:len(q)-1], Redacted)
		}
	}
	return s
}

// RedactError returns err with every occurrence of the secrets in its message
// replaced by ***; errors.Is and errors.As still see the original. It
// returns err itself when no secret occurs in it.
func RedactError(err error, secrets ...Secret) error {
	if err == nil {
		return nil
	}
	plain := make([]string, 0, len(secrets))
	for _, s := range secrets {
		plain = append(plain, string(s))
	}
	msg := err.Error()
	if red := Redact(msg, plain...); red != msg {
		return &redactedError{msg: red, err: err}
	}
	return err
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactNode removes the value of a secret field's node (and of any scalar
// inside it) from errors about that field.
func redactNode(errs Errors, n *yaml.Node) Errors {
	if len(errs) == 0 || n == nil {
		return errs
	}
	var values []string
	var collect func(*yaml.Node)
	collect = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode && n.Value != "" {
			values = append(values, n.Value)
		}
		for _, c := range n.Content {
			collect(c)
		}
	}
	collect(n)
	for _, e := range errs {
		e.Msg = Redact(e.Msg, values...)
	}
	return errs
}

// commonSecretNames are the names of fields that hold secrets in any
// component: a --set of a path ending in one of them (or in a name given as
// LoadOptions.SecretNames) is shown without its value. It is never written
// to, so it needs no lock.
var commonSecretNames = map[string]bool{
	"password": true, "passphrase": true, "secret": true, "token": true,
	"api_key": true, "secret_key": true, "private_key": true, "client_secret": true,
}

// IsSecretPath reports whether a dotted config path names a secret field by
// its last segment: one of the common secret names (password, token, ...)
// or one of extra (names of fields declared with Field.Secret).
func IsSecretPath(path string, extra ...string) bool {
	last := path
	if i := strings.LastIndex(path, "."); i >= 0 {
		last = path[i+1:]
	}
	last = strings.ToLower(last)
	return commonSecretNames[last] || slices.ContainsFunc(extra, func(name string) bool { return strings.ToLower(name) == last })
}

// SecretNames lists the names of the fields declared with Field.Secret
// among fields and the fields nested in them, for LoadOptions.SecretNames.
func SecretNames(fields []Field) []string {
	var names []string
	for _, f := range fields {
		if f.IsSecret {
			names = append(names, f.Name)
		}
		names = append(names, SecretNames(f.Fields)...)
	}
	return names
}

// settingSecrets returns the parts of a --set path=value that must not be
// printed: when a segment of the path names a secret, the value and every
// segment after that one.
func settingSecrets(setting string, secretNames []string) []string {
	path, value, _ := strings.Cut(setting, "=")
	segs := strings.Split(path, ".")
	for i, seg := range segs {
		if IsSecretPath(seg, secretNames...) {
			return append(slices.Clone(segs[i+1:]), value)
		}
	}
	return nil
}

// redactSetting shows a --set path=value without the parts settingSecrets
// names: path.to.password=*** or path.to.password.***=***.
func redactSetting(setting string, secretNames []string) string {
	secrets := settingSecrets(setting, secretNames)
	if secrets == nil {
		return setting
	}
	path, value, ok := strings.Cut(setting, "=")
	segs := strings.Split(path, ".")
	keep := len(segs) - (len(secrets) - 1)
	out := strings.Join(segs[:keep], ".")
	if keep < len(segs) {
		out += "." + Redacted
	}
	if ok {
		out += "="
		if value != "" {
			out += Redacted
		}
	}
	return out
}
