package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Document is a loaded config file: its root mapping, with overrides applied and
// environment variables interpolated.
type Document struct {
	File string
	Root *yaml.Node
}

// LoadOptions changes how a file becomes a Document.
type LoadOptions struct {
	// Overrides are `path=value` settings applied before interpolation, as given
	// with --set on the command line.
	Overrides []string
	// LookupEnv resolves ${VAR}; os.LookupEnv when nil.
	LookupEnv func(string) (string, bool)
	// SecretNames are names of fields declared with Field.Secret (see
	// SecretNames) beyond the common ones (password, token, ...): a --set of
	// a path through one of them is shown without its value in errors.
	SecretNames []string
}

// LoadFile reads and loads the config at path. A file beyond MaxBytes is
// refused before it is read.
func LoadFile(path string, opts LoadOptions) (*Document, error) {
	data, err := readConfig(path)
	if err != nil {
		return nil, err
	}
	return Load(path, data, opts)
}

// readConfig reads at most MaxBytes of a file: its size is checked first,
// and what has no size (a pipe) is read only up to the limit.
func readConfig(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Errors{{Pos: Pos{File: path}, Msg: err.Error()}}
	}
	defer f.Close()
	if info, err := f.Stat(); err == nil && info.Mode().IsRegular() && info.Size() > MaxBytes {
		return nil, Errors{sizeError(path, info.Size())}
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxBytes+1))
	if err != nil {
		return nil, Errors{{Pos: Pos{File: path}, Msg: err.Error()}}
	}
	if len(data) > MaxBytes {
		return nil, Errors{{Pos: Pos{File: path}, Msg: fmt.Sprintf("the config is more than %d bytes (%d MiB), the limit", MaxBytes, MaxBytes>>20)}}
	}
	return data, nil
}

// Load parses data as the config file named file. Every problem found is
// returned together as Errors. A config beyond MaxBytes or MaxNodes, or
// whose aliases multiply it, is refused (see expandAliases); aliases are
// expanded, so the Document holds none.
func Load(file string, data []byte, opts LoadOptions) (*Document, error) {
	if len(data) > MaxBytes {
		return nil, Errors{sizeError(file, int64(len(data)))}
	}
	if size := overridesSize(opts.Overrides); size > MaxBytes {
		return nil, Errors{{Pos: Pos{File: "--set"}, Msg: fmt.Sprintf("the --set values are %d bytes, more than the limit of %d (%d MiB)", size, MaxBytes, MaxBytes>>20)}}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, Errors{yamlError(file, err)}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	if root.Kind == 0 || root.Kind == yaml.DocumentNode {
		root = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: 1, Column: 1}
	}
	if root.Kind != yaml.MappingNode {
		return nil, Errors{{Pos: Pos{File: file, Line: root.Line, Col: root.Column}, Msg: "a config must be a mapping of fields"}}
	}
	root, aliasErr := expandAliases(file, root)
	if aliasErr != nil {
		return nil, Errors{aliasErr}
	}
	var errs Errors
	for _, o := range opts.Overrides {
		if err := applyOverride(root, o); err != nil {
			msg := Redact(err.Error(), settingSecrets(o, opts.SecretNames)...)
			errs = append(errs, &Error{Pos: Pos{File: "--set " + shorten(redactSetting(o, opts.SecretNames))}, Msg: msg})
		}
	}
	if len(opts.Overrides) > 0 && countNodes(root, MaxNodes+1) > MaxNodes {
		return nil, Errors{tooManyNodes(file)}
	}
	lookup := opts.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	errs = append(errs, interpolateTree(file, root, "", lookup)...)
	if len(errs) > 0 {
		return nil, errs.Sorted()
	}
	return &Document{File: file, Root: root}, nil
}

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError turns a yaml.v3 syntax error into a positioned Error. yaml.v3
// reports only a line; the column is unknown and given as 1.
func yamlError(file string, err error) *Error {
	msg := err.Error()
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{Pos: Pos{File: file, Line: line, Col: 1}, Msg: "invalid YAML: " + m[2]}
	}
	if te, ok := err.(*yaml.TypeError); ok {
		msg = strings.Join(te.Errors, "; ")
	}
	return &Error{Pos: Pos{File: file}, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// shorten cuts a --set setting shown in an error to its first 80 bytes (a
// whole character): a value may be as long as a config.
func shorten(setting string) string {
	const shown = 80
	if len(setting) <= shown {
		return setting
	}
	cut := shown
	for cut > 0 && !utf8.RuneStart(setting[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes)", setting[:cut], len(setting))
}

func overridesSize(overrides []string) int {
	size := 0
	for _, o := range overrides {
		size += len(o)
	}
	return size
}

// applyOverride sets one `a.b.0.c=value` path in the tree, creating mappings
// and appending to sequences as needed. The value is parsed as YAML, so
// `count=5` is a number and `paths=[a, b]` a list.
func applyOverride(root *yaml.Node, setting string) error {
	path, value, ok := strings.Cut(setting, "=")
	if !ok || path == "" {
		return fmt.Errorf("want path=value")
	}
	var parsed yaml.Node
	if err := yaml.Unmarshal([]byte(value), &parsed); err != nil {
		return fmt.Errorf("value is not valid YAML: %v", err)
	}
	newValue := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: ""}
	if len(parsed.Content) > 0 {
		expanded, err := expandAliases("", parsed.Content[0])
		if err != nil {
			return errors.New(err.Msg)
		}
		newValue = expanded
	}
	clearPositions(newValue)
	segments := strings.Split(path, ".")
	node := root
	for i, seg := range segments {
		last := i == len(segments)-1
		nextIsIndex := !last && isIndex(segments[i+1])
		switch node.Kind {
		case yaml.MappingNode:
			child := mappingValue(node, seg)
			switch {
			case child != nil && last:
				*child = *newValue
			case child == nil:
				child = newValue
				if !last {
					child = emptyContainer(nextIsIndex)
				}
				node.Content = append(node.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: seg}, child)
			}
			node = child
		case yaml.SequenceNode:
			idx, err := strconv.Atoi(seg)
			if err != nil || idx < 0 || idx > len(node.Content) {
				return fmt.Errorf("%s: want an index from 0 to %d", strings.Join(segments[:i+1], "."), len(node.Content))
			}
			if idx == len(node.Content) {
				child := newValue
				if !last {
					child = emptyContainer(nextIsIndex)
				}
				node.Content = append(node.Content, child)
				node = child
			} else if last {
				*node.Content[idx] = *newValue
			} else {
				node = node.Content[idx]
			}
		case yaml.ScalarNode:
			if node.Tag != "!!null" {
				return fmt.Errorf("%s: cannot set a field inside a scalar value", strings.Join(segments[:i], "."))
			}
			if isIndex(seg) {
				*node = *emptyContainer(true)
			} else {
				*node = *emptyContainer(false)
			}
			node.Line = 0
			// revisit this segment now that the node is a container
			return applyOverride(root, setting)
		default:
			return fmt.Errorf("%s: cannot set through this node", strings.Join(segments[:i], "."))
		}
	}
	return nil
}

func isIndex(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}

func emptyContainer(sequence bool) *yaml.Node {
	if sequence {
		return &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	}
	return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
}

func clearPositions(n *yaml.Node) {
	n.Line, n.Column = 0, 0
	for _, c := range n.Content {
		clearPositions(c)
	}
}

// mappingValue returns the value node for key in a mapping node, or nil.
func mappingValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

var envRef = regexp.MustCompile(`\$\$\{|\$\{([^{}:]*)(?::([^{}]*))?\}`)
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// interpolateTree replaces ${VAR} and ${VAR:default} in every scalar value of
// the tree; `$${` stands for a literal `${`.
func interpolateTree(file string, n *yaml.Node, path string, lookup func(string) (string, bool)) Errors {
	var errs Errors
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			errs = append(errs, interpolateTree(file, n.Content[i+1], JoinPath(path, n.Content[i].Value), lookup)...)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			errs = append(errs, interpolateTree(file, c, JoinPath(path, strconv.Itoa(i)), lookup)...)
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return nil
		}
		out, err := Interpolate(n.Value, lookup)
		if err != nil {
			return Errors{{Pos: Pos{File: file, Line: n.Line, Col: n.Column}, Path: path, Msg: err.Error()}}
		}
		n.Value = out
		if n.Style == 0 {
			// A plain scalar's type follows its new text: `${N:5}` is a number.
			n.Tag = ""
		}
	}
	return errs
}

// Interpolate expands ${VAR} and ${VAR:default} in s.
func Interpolate(s string, lookup func(string) (string, bool)) (string, error) {
	var firstErr error
	out := envRef.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$${" {
			return "${"
		}
		sub := envRef.FindStringSubmatch(m)
		name := sub[1]
		hasDefault := strings.Contains(m, ":")
		if !envName.MatchString(name) {
			if firstErr == nil {
				firstErr = fmt.Errorf("invalid environment variable reference %q", m)
			}
			return m
		}
		if v, ok := lookup(name); ok && (v != "" || !hasDefault) {
			return v
		}
		if hasDefault {
			return sub[2]
		}
		if firstErr == nil {
			firstErr = fmt.Errorf("environment variable %q is not set and has no default (write ${%s:default})", name, name)
		}
		return m
	})
	return out, firstErr
}

// JoinPath appends a segment to a dotted field path.
func JoinPath(path, seg string) string {
	if path == "" {
		return seg
	}
	return path + "." + seg
}
