package config

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Fingerprint is a hash of what a node says, not how it is written: comments,
// layout, quoting styles, positions and the order of mapping keys do not
// change it; any key, value, tag or list order does. A hot reload compares
// documents by it (an edit of comments changes nothing), and the engine keeps
// a stateful component's state only while its fingerprint stays the same.
//
// An alias counts as the node it names. Documents from Load hold none (it
// expands them, within bounds); for any other tree, aliases are followed
// only while the walk is within MaxNodes, and past that an alias counts as
// its anchor's name and place, so that an alias bomb costs no more than a
// document of MaxNodes.
func Fingerprint(n *yaml.Node) string {
	h := sha256.New()
	var buf []byte
	visited := 0
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n == nil {
			h.Write([]byte{'n'})
			return
		}
		if visited++; n.Kind == yaml.AliasNode {
			if visited <= MaxNodes {
				walk(n.Alias)
				return
			}
			buf = strconv.AppendQuote(append(buf[:0], '*'), n.Value)
			if n.Alias != nil {
				buf = strconv.AppendInt(append(buf, ' '), int64(n.Alias.Line), 10)
				buf = strconv.AppendInt(append(buf, ':'), int64(n.Alias.Column), 10)
			}
			h.Write(append(buf, '\n'))
			return
		}
		if n.Kind == yaml.DocumentNode {
			for _, c := range n.Content {
				walk(c)
			}
			return
		}
		buf = strconv.AppendInt(append(buf[:0], 'k'), int64(n.Kind), 10)
		buf = strconv.AppendQuote(append(buf, ' '), n.ShortTag())
		buf = strconv.AppendQuote(append(buf, ' '), n.Value)
		buf = strconv.AppendInt(append(buf, ' '), int64(len(n.Content)), 10)
		h.Write(append(buf, '\n'))
		switch n.Kind {
		case yaml.MappingNode:
			pairs := make([][2]*yaml.Node, 0, len(n.Content)/2)
			for i := 0; i+1 < len(n.Content); i += 2 {
				pairs = append(pairs, [2]*yaml.Node{n.Content[i], n.Content[i+1]})
			}
			slices.SortStableFunc(pairs, func(a, b [2]*yaml.Node) int { return strings.Compare(a[0].Value, b[0].Value) })
			for _, p := range pairs {
				walk(p[0])
				walk(p[1])
			}
		default:
			for _, c := range n.Content {
				walk(c)
			}
		}
	}
	walk(n)
	return hex.EncodeToString(h.Sum(nil))
}
