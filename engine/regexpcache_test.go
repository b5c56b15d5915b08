package engine

import (
	"strconv"
	"sync"
	"testing"

	"github.com/pipelinehq/pipeline/config"
)

// TestRegexpCacheIsBounded: patterns built from records (100k distinct
// ones, from several goroutines) leave the cache at its cap, and every
// match is still right.
func TestRegexpCacheIsBounded(t *testing.T) {
	e, err := CompileExpr(config.ExprSource{Text: `[re_match(value.s, value.p), re_match(value.other, value.p), re_replace(value.s, value.p, "x")]`}, AnyResult)
	if err != nil {
		t.Fatal(err)
	}
	const patterns, workers = 100_000, 4
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := NewRecord(nil, JSON)
			for i := w; i < patterns; i += workers {
				n := strconv.Itoa(i)
				if i%50 != 0 { // most straight through the cache, which is quicker
					re, err := cachedRegexp("^a" + n + "$")
					if err != nil || !re.MatchString("a"+n) || re.MatchString("a"+n+"0") {
						t.Errorf("pattern %d: %v, %v", i, re, err)
						return
					}
					continue
				}
				r.SetValue(map[string]any{"s": "a" + n, "other": "a" + n + "0", "p": "^a" + n + "$"})
				got, err := e.Eval(r)
				if err != nil {
					t.Error(err)
					return
				}
				if l := got.([]any); l[0] != true || l[1] != false || l[2] != "x" {
					t.Errorf("pattern %d: %v, want [true false x]", i, l)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := regexps.len(); n != maxCachedRegexps {
		t.Fatalf("%d patterns cached, want the cap %d", n, maxCachedRegexps)
	}
}

// TestRegexpCacheKeepsRecentlyUsed: the pattern evicted is the one used
// least recently.
func TestRegexpCacheKeepsRecentlyUsed(t *testing.T) {
	c := newRegexpCache(2)
	a, _ := c.get("a")
	c.get("b")
	if again, _ := c.get("a"); again != a {
		t.Fatal("a cached pattern was compiled again")
	}
	c.get("c") // evicts b, the least recently used
	if again, _ := c.get("a"); again != a || c.len() != 2 {
		t.Fatalf("a was evicted (or the cache holds %d)", c.len())
	}
	if _, ok := c.byText["b"]; ok {
		t.Fatal("b is still cached")
	}
	if _, err := c.get("("); err == nil || err.Error() != "invalid regular expression \"(\": error parsing regexp: missing closing ): `(`" {
		t.Fatalf("invalid pattern: %v", err)
	}
	if c.len() != 2 {
		t.Fatal("an invalid pattern was cached")
	}
}
