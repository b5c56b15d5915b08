package config

import (
	"testing"

	"gopkg.in/yaml.v3"
)

func fingerprintOf(t *testing.T, src string) string {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		t.Fatal(err)
	}
	return Fingerprint(&n)
}

func TestFingerprint(t *testing.T) {
	base := fingerprintOf(t, "input:\n  file: { paths: [a.txt], codec: lines }\nmax_in_flight: 4\n")
	same := []string{
		"# a comment\ninput:\n  file:\n    codec: lines   # another\n    paths:\n      - a.txt\nmax_in_flight: 4\n",
		"max_in_flight: 4\ninput: {file: {codec: 'lines', paths: [\"a.txt\"]}}\n",
	}
	for _, s := range same {
		if got := fingerprintOf(t, s); got != base {
			t.Errorf("%q: fingerprint differs from the same config written otherwise", s)
		}
	}
	different := []string{
		"input:\n  file: { paths: [a.txt], codec: lines }\nmax_in_flight: 5\n",
		"input:\n  file: { paths: [b.txt], codec: lines }\nmax_in_flight: 4\n",
		"input:\n  file: { paths: [a.txt, b.txt], codec: lines }\nmax_in_flight: 4\n",
		"input:\n  file: { paths: [a.txt], codec: lines, extra: 1 }\nmax_in_flight: 4\n",
		"input:\n  file: { paths: [a.txt], codec: lines }\nmax_in_flight: '4'\n",
		"input:\n  file: { path: [a.txt], codec: lines }\nmax_in_flight: 4\n",
	}
	seen := map[string]string{base: "base"}
	for _, s := range different {
		got := fingerprintOf(t, s)
		if prev, dup := seen[got]; dup {
			t.Errorf("%q has the fingerprint of %q", s, prev)
		}
		seen[got] = s
	}
	// List order matters; key order does not.
	if fingerprintOf(t, "[a, b]") == fingerprintOf(t, "[b, a]") {
		t.Error("lists in another order have the same fingerprint")
	}
	if fingerprintOf(t, "{a: 1, b: 2}") != fingerprintOf(t, "{b: 2, a: 1}") {
		t.Error("mappings with keys in another order differ")
	}
}
