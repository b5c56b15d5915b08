package engine

import (
	"fmt"
	"strings"
)

// regexRoute is Kafka Connect's RegexRouter: when the regular expression
// matches the whole of name, the result is replacement with $1, $2, …
// replaced by the groups (Java's rules: $ and the digits that name an
// existing group, \$ for a dollar); otherwise name unchanged. Go's own
// ReplaceAllString differs twice: it replaces matches inside the name, and
// reads "$1x" as a group named "1x".
func regexRoute(name, pattern, replacement string) (string, error) {
	re, err := cachedRegexp(`^(?:` + pattern + `)$`)
	if err != nil {
		return "", err
	}
	m := re.FindStringSubmatchIndex(name)
	if m == nil {
		return name, nil
	}
	groups := len(m)/2 - 1
	var b strings.Builder
	for i := 0; i < len(replacement); i++ {
		c := replacement[i]
		switch {
		case c == '\\' && i+1 < len(replacement):
			i++
			b.WriteByte(replacement[i])
		case c == '$':
			j := i + 1
			n := 0
			for j < len(replacement) && replacement[j] >= '0' && replacement[j] <= '9' && n*10+int(replacement[j]-'0') <= groups {
				n = n*10 + int(replacement[j]-'0')
				j++
			}
			if j == i+1 {
				return "", fmt.Errorf("re_route: replacement %q: $ at %d names no group (write \\$ for a dollar)", replacement, i)
			}
			if m[2*n] >= 0 {
				b.WriteString(name[m[2*n]:m[2*n+1]])
			}
			i = j - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}
