package proctest

import (
	"reflect"
	"strings"
	"testing"
)

// Failed is a record the dead-letter output received: its original value
// and the first line of its error header.
type Failed struct {
	Value string
	Error string
}

// FirstLine is the first line of s: expression errors from expr-lang
// continue with a source excerpt on further lines.
func FirstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

// Failures returns what reached the dead-letter output. It checks that
// each carries error_component (the failing step's path, want) and
// error_source headers.
func (h *Harness) Failures(t testing.TB, component string) []Failed {
	t.Helper()
	var out []Failed
	for _, o := range h.Out("dead_letter") {
		msg, ok := o.Header("error")
		if !ok {
			t.Errorf("dead-letter record %q has no error header", o.Value)
		}
		if c, _ := o.Header("error_component"); c != component {
			t.Errorf("dead-letter record %q: error_component = %q, want %q", o.Value, c, component)
		}
		if s, _ := o.Header("error_source"); !strings.HasPrefix(s, "record at p:") {
			t.Errorf("dead-letter record %q: error_source = %q, want record at p:N", o.Value, s)
		}
		out = append(out, Failed{Value: o.Value, Error: FirstLine(msg)})
	}
	return out
}

// Equal fails the test when got is not want.
func Equal[T any](t testing.TB, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got  %#v\n want %#v", what, got, want)
	}
}
