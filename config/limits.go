package config

import (
	"fmt"
	"strconv"

	"gopkg.in/yaml.v3"
)

// MaxBytes bounds a config's size, checked before it is parsed: a 50 MB
// config of a million processors took 9 GB and a minute to lint. Written by
// hand, configs are kilobytes, and the largest generated ones a few hundred
// KiB; 4 MiB leaves ten times that, and parsing 4 MiB of YAML takes about a
// second and 120 MB.
const MaxBytes = 4 << 20

// MaxNodes bounds a config's YAML nodes (keys, values, list items) with its
// aliases expanded, so that building its components stays bounded as well:
// that is some 30,000 one-line processors, or thousands of real ones.
const MaxNodes = 100_000

// Aliases may repeat parts of a config, not multiply it: expanded, a
// document may grow to aliasGrowth times the nodes it is written with (and
// always to minAliasBudget), as yaml.v3 bounds the aliasing of what it
// decodes. A "billion laughs" of 9 levels of 9 aliases would be 387 million
// nodes.
const (
	aliasGrowth    = 10
	minAliasBudget = 10_000
)

func sizeError(file string, size int64) *Error {
	return &Error{Pos: Pos{File: file}, Msg: fmt.Sprintf("the config is %d bytes, more than the limit of %d (%d MiB)", size, MaxBytes, MaxBytes>>20)}
}

func tooManyNodes(file string) *Error {
	return &Error{Pos: Pos{File: file}, Msg: fmt.Sprintf("the config has more than %d nodes (keys, values and list items), the limit", MaxNodes)}
}

// expandAliases replaces every alias of the tree by a copy of the node it
// names, so that everything after loading (overrides, interpolation,
// parsing, fingerprints) sees plain nodes and follows no alias. Copies are
// counted against a budget proportional to the document: beyond it, the
// error names the alias whose expansion crossed it.
func expandAliases(file string, root *yaml.Node) (*yaml.Node, *Error) {
	written := countNodes(root, MaxNodes+1)
	if written > MaxNodes {
		return nil, tooManyNodes(file)
	}
	x := &aliasExpansion{file: file, root: root, written: written, budget: min(MaxNodes, max(minAliasBudget, aliasGrowth*written))}
	out := x.expand(root, nil)
	if x.err != nil {
		return nil, x.err
	}
	return out, nil
}

type aliasExpansion struct {
	file            string
	root            *yaml.Node
	written, budget int
	nodes           int // expanded so far
	err             *Error
}

// expand returns n with its aliases expanded. Nodes as written are changed
// in place; under an alias (entry: the written alias being expanded) every
// node is a copy, since the node it names stays in the tree too, and
// interpolation and overrides change nodes in place.
func (x *aliasExpansion) expand(n, entry *yaml.Node) *yaml.Node {
	if x.err != nil {
		return n
	}
	if x.nodes++; x.nodes > x.budget {
		x.exceeded(entry)
		return n
	}
	if n.Kind == yaml.AliasNode {
		if entry == nil {
			entry = n
		}
		if n.Alias == nil {
			x.err = x.errorAt(n, fmt.Sprintf("alias *%s names no anchor", n.Value))
			return n
		}
		x.nodes-- // the alias stands for the node it names, counted next
		expanded := x.expand(n.Alias, entry)
		expanded.Anchor = ""
		return expanded
	}
	out := n
	if entry != nil {
		out = copyNode(n)
	}
	for i, c := range n.Content {
		out.Content[i] = x.expand(c, entry)
	}
	return out
}

func (x *aliasExpansion) exceeded(entry *yaml.Node) {
	if entry == nil { // cannot happen: as written, the document is within MaxNodes
		x.err = tooManyNodes(x.file)
		return
	}
	x.err = x.errorAt(entry, fmt.Sprintf("alias *%s: expanding the aliases makes the config more than %d nodes, from %d as written; "+
		"aliases may repeat parts of a config, not multiply it", entry.Value, x.budget, x.written))
}

// errorAt makes an error at a node as written (an alias).
func (x *aliasExpansion) errorAt(n *yaml.Node, msg string) *Error {
	path, _ := pathOf(x.root, n, "")
	return &Error{Pos: Pos{File: x.file, Line: n.Line, Col: n.Column}, Path: path, Msg: msg}
}

// pathOf finds a node in the tree as written (following no alias) and
// returns its dotted path. It runs only for an error.
func pathOf(tree, node *yaml.Node, path string) (string, bool) {
	if tree == node {
		return path, true
	}
	if tree.Kind == yaml.AliasNode {
		return "", false
	}
	for i, c := range tree.Content {
		if found, ok := pathOf(c, node, childPath(tree, path, i)); ok {
			return found, true
		}
	}
	return "", false
}

// copyNode copies a node and its list of children (not the children).
func copyNode(n *yaml.Node) *yaml.Node {
	c := *n
	c.Content = append([]*yaml.Node(nil), n.Content...)
	return &c
}

// childPath is the dotted path of the i-th node of n's content: a mapping's
// value is named by its key, a key by itself.
func childPath(n *yaml.Node, path string, i int) string {
	switch n.Kind {
	case yaml.MappingNode:
		return JoinPath(path, n.Content[i-i%2].Value)
	case yaml.SequenceNode:
		return JoinPath(path, strconv.Itoa(i))
	}
	return path
}

// countNodes counts the nodes of a tree as written (an alias is one node),
// stopping once it passes limit.
func countNodes(n *yaml.Node, limit int) int {
	count := 0
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		if count++; count > limit {
			return
		}
		if n.Kind == yaml.AliasNode {
			return
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
	return count
}
