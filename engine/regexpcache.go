package engine

import (
	"container/list"
	"fmt"
	"regexp"
	"sync"
)

// maxCachedRegexps bounds the regular expressions re_match and re_replace
// keep compiled. A config's patterns are usually constants (a handful), but
// an expression may build them from records, and each distinct one would
// otherwise stay in memory for the life of the process.
const maxCachedRegexps = 1024

// regexpCache keeps the most recently used compiled patterns, up to limit.
// It is safe for concurrent use.
type regexpCache struct {
	mu     sync.Mutex
	limit  int
	byText map[string]*list.Element
	recent *list.List // of *regexp.Regexp, most recently used first
}

func newRegexpCache(limit int) *regexpCache {
	return &regexpCache{limit: limit, byText: make(map[string]*list.Element), recent: list.New()}
}

var regexps = newRegexpCache(maxCachedRegexps)

func cachedRegexp(pattern string) (*regexp.Regexp, error) { return regexps.get(pattern) }

func (c *regexpCache) get(pattern string) (*regexp.Regexp, error) {
	c.mu.Lock()
	if e, ok := c.byText[pattern]; ok {
		c.recent.MoveToFront(e)
		c.mu.Unlock()
		return e.Value.(*regexp.Regexp), nil
	}
	c.mu.Unlock()
	// Compiled outside the lock: a long pattern must not hold up the others.
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression %q: %v", pattern, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byText[pattern]; ok { // compiled meanwhile by another caller
		c.recent.MoveToFront(e)
		return e.Value.(*regexp.Regexp), nil
	}
	c.byText[pattern] = c.recent.PushFront(re)
	if c.recent.Len() > c.limit {
		oldest := c.recent.Back()
		c.recent.Remove(oldest)
		delete(c.byText, oldest.Value.(*regexp.Regexp).String())
	}
	return re, nil
}

func (c *regexpCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byText)
}
