package engine

import "testing"

// TestRegexRouteIsRegexRouters follows Kafka Connect's RegexRouter: the
// whole name must match, $n are the groups.
func TestRegexRouteIsRegexRouters(t *testing.T) {
	for _, tt := range []struct{ name, re, repl, want string }{
		{"orders", "(.*)", "mysql.$1", "mysql.orders"},
		{"app.orders", `app\.(.*)`, "mysql.$1", "mysql.orders"},
		{"xapp.orders", `app\.(.*)`, "mysql.$1", "xapp.orders"}, // a match inside the name is no match
		{"orders", "(o)(r)ders", "$2$1x", "rox"},
		{"orders", "(orders)", "$1x", "ordersx"}, // Go would read a group named "1x"
		{"orders", "(orders)", "$10", "orders0"}, // only groups that exist: $1 then 0
		{"orders", "(orders)", `\$1`, "$1"},      // an escaped dollar
		{"a-b", "(a)-(b)?(c)?", "$3<$1>", "<a>"}, // a group that matched nothing is empty
		{"unmatched", "orders", "x", "unmatched"},
	} {
		got, err := regexRoute(tt.name, tt.re, tt.repl)
		if err != nil || got != tt.want {
			t.Errorf("re_route(%q, %q, %q) = %q, %v; want %q", tt.name, tt.re, tt.repl, got, err, tt.want)
		}
	}
	if _, err := regexRoute("x", "(x)", "$y"); err == nil {
		t.Error("$ before no group: no error")
	}
	if _, err := regexRoute("x", "(", "$1"); err == nil {
		t.Error("a bad regular expression: no error")
	}
}
