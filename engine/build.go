package engine

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/pipelinehq/pipeline/config"
)

// Pipeline is a built graph, ready to run once.
type Pipeline struct {
	Settings    Settings
	inputs      []*inputNode
	chain       *Chain
	outputs     []*outputNode // indexed by OutputRef.index
	mainOutput  int           // -1: none
	deadLetter  int           // -1: none
	coPartition coPartitioning
	log         *slog.Logger
	metrics     *Metrics
	state       *pipelineState
}

type inputNode struct {
	label, path string
	definition  string // the input's config fingerprint
	input       Input
	metrics     *componentMetrics
	// preloaded: a join reads it as a table, loaded before other inputs
	// are read (Resources.Preload).
	preloaded PreloadInput
}

type outputNode struct {
	name, label, path string
	index             int // in Pipeline.outputs
	output            Output
	metrics           *componentMetrics
}

// BuildOptions are what a build needs besides the config.
type BuildOptions struct {
	Logger  *slog.Logger
	Metrics *Metrics // nil: a private registry, as for lint
	// StateDir is the state directory when the config gives no state.dir;
	// empty: state/<name> below the working directory.
	StateDir string
}

// Resources is what a component's constructor may use while it is built.
type Resources struct {
	// Pipeline is the pipeline's name (the default consumer group).
	Pipeline string
	// Instance tells this running instance from the others and survives
	// its restarts: <pipeline>-<host>-<8 hex digits of the state
	// directory>.
	Instance string
	Label    string // the component's label: its `label` field, its name in a map, or its type
	Path     string // its path in the config, e.g. "pipeline.processors.2"
	Logger   *slog.Logger
	b        *builder
	// definition is the component's config fingerprint.
	definition string
}

// Processors builds the nested processor list in a field of conf (as a
// branch case does).
func (r *Resources) Processors(conf *config.Parsed, field string) (*Chain, error) {
	before := len(r.b.errs)
	chain := r.b.chain(conf.Node(field), conf.FieldPath(field))
	if len(r.b.errs) > before {
		// The errors are already reported by the build; the component only
		// needs to know that it failed.
		return nil, errAlreadyReported
	}
	return chain, nil
}

// Output resolves a string field of conf that names an entry of `outputs:`.
func (r *Resources) Output(conf *config.Parsed, field string) (OutputRef, error) {
	name := conf.String(field)
	idx, ok := r.b.outputNames[name]
	if !ok {
		names := make([]string, 0, len(r.b.outputNames))
		for n := range r.b.outputNames {
			names = append(names, n)
		}
		sort.Strings(names)
		if len(names) == 0 {
			return OutputRef{}, conf.Errorf(field, "no output named %q: declare it under outputs:", name)
		}
		return OutputRef{}, conf.Errorf(field, "no output named %q (outputs: %s)%s", name, strings.Join(names, ", "), config.Suggest(name, names))
	}
	return OutputRef{index: idx, name: name}, nil
}

// Input builds the nested input component in a field of conf (a join's
// table), as the pipeline's inputs are built, with the field's path. The
// engine does not run it: the component that asked for it starts it, reads
// it and closes it; its positions are nobody's to commit.
func (r *Resources) Input(conf *config.Parsed, field string) (Input, error) {
	n := conf.Node(field)
	if n == nil {
		return nil, conf.Errorf(field, "give an input")
	}
	path := conf.FieldPath(field)
	name, label, c, ok := r.b.component("input", n, path, "")
	if !ok {
		return nil, errAlreadyReported
	}
	in, err := r.b.reg.inputs[name].New(c, r.b.resources(label, path, n))
	if !r.b.constructed(err, c, n) {
		return nil, errAlreadyReported
	}
	return in, nil
}

// InputLabels lists the labels of the pipeline's inputs (input: and
// inputs:), for a processor that names some of them.
func (r *Resources) InputLabels() []string {
	labels := make([]string, 0, len(r.b.inputLabels))
	for _, l := range r.b.inputLabels {
		labels = append(labels, l)
	}
	return labels
}

// CoPartition asks that the inputs of the given labels (none: every
// input) be processed together by partition number, as Kafka Streams
// processes co-partitioned topics: partition N of each of them goes to
// one task, with one state shard, in the order read (see coPartitioning).
// A join of two streams asks for it.
func (r *Resources) CoPartition(labels ...string) {
	if len(labels) == 0 {
		r.b.coPartitionAll = true
	}
	for _, l := range labels {
		r.b.coPartitioned[l] = true
	}
}

// Preload asks that the input of the given label be loaded before the
// other inputs are read, as the table of a stream–table join (see
// PreloadInput). An input that cannot say when it is loaded is read as it
// comes.
func (r *Resources) Preload(label string) { r.b.preload[label] = true }

// preloading tells the inputs processors asked to preload.
func (b *builder) preloading(p *Pipeline) {
	for _, in := range p.inputs {
		if pi, ok := in.input.(PreloadInput); ok && b.preload[in.label] {
			pi.Preload()
			in.preloaded = pi
		}
	}
}

// Counter returns a counter the component exports, labelled with its label and path.
func (r *Resources) Counter(name, help string) prometheus.Counter {
	return r.b.metrics.counter(name, help, r.Label, r.Path)
}

var errAlreadyReported = errors.New("already reported")

type builder struct {
	file         string
	reg          *Registry
	log          *slog.Logger
	metrics      *Metrics
	errs         config.Errors
	outputs      []*outputNode
	outputNames  map[string]int
	labels       map[string]string // label → path, to keep labels unique
	state        *pipelineState
	pipelineName string
	instance     string // the running instance's name (instanceName)
	inputLabels  []string
	// Inputs that processors asked to co-partition (CoPartition).
	coPartitioned  map[string]bool
	coPartitionAll bool
	preload        map[string]bool // labels of the inputs to load first (Preload)
}

// Build turns a loaded config into a pipeline. It starts nothing; every
// problem of the file is returned as config.Errors.
func Build(doc *config.Document, reg *Registry, opts BuildOptions) (*Pipeline, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(prometheus.NewRegistry())
	}
	b := &builder{file: doc.File, reg: reg, log: opts.Logger, metrics: opts.Metrics,
		outputNames: map[string]int{}, labels: map[string]string{}, coPartitioned: map[string]bool{}, preload: map[string]bool{}}
	root, errs := config.Parse(doc.File, "", doc.Root, RootFields())
	b.errs = append(b.errs, errs...)
	name := strings.TrimSuffix(filepath.Base(doc.File), filepath.Ext(doc.File))
	p := &Pipeline{Settings: settingsFrom(root, name), mainOutput: -1, deadLetter: -1, log: opts.Logger, metrics: opts.Metrics}
	stateConf := root.Object("state")
	b.state = &pipelineState{dir: stateConf.String("dir"), cacheBytes: stateConf.ByteSize("cache_size"), stores: map[string]storeInfo{}}
	if b.state.dir == "" {
		b.state.dir = opts.StateDir
	}
	if b.state.dir == "" {
		b.state.dir = defaultStateDir(p.Settings.Name)
	}
	p.state = b.state
	b.pipelineName = p.Settings.Name
	b.instance = instanceName(p.Settings.Name, b.state.dir)

	// Outputs first, so that branch routes can resolve their names.
	if n := root.Node("output"); n != nil {
		p.mainOutput = b.output(n, "output", "")
	}
	if n := root.Node("outputs"); n != nil {
		for i := 0; i+1 < len(n.Content); i += 2 {
			name := n.Content[i].Value
			idx := b.output(n.Content[i+1], config.JoinPath("outputs", name), name)
			if idx >= 0 {
				b.outputNames[name] = idx
			}
		}
	}
	if n := root.Node("dead_letter"); n != nil {
		p.deadLetter = b.output(n, "dead_letter", "dead_letter")
	}

	if n := root.Node("input"); n != nil {
		b.input(p, n, "input", "")
	}
	if n := root.Node("inputs"); n != nil {
		for i := 0; i+1 < len(n.Content); i += 2 {
			b.input(p, n.Content[i+1], config.JoinPath("inputs", n.Content[i].Value), n.Content[i].Value)
		}
	}
	p.chain = b.chain(root.Object("pipeline").Node("processors"), "pipeline.processors")
	p.outputs = b.outputs
	p.coPartition = b.coPartitioning(p)
	b.preloading(p)

	b.checkGraph(root, p)
	if len(b.errs) > 0 {
		return nil, b.errs.Sorted()
	}
	return p, nil
}

func (b *builder) checkGraph(root *config.Parsed, p *Pipeline) {
	if !root.Has("input") && !root.Has("inputs") {
		b.errs = append(b.errs, &config.Error{Pos: config.Pos{File: b.file, Line: 1, Col: 1}, Msg: "no input: give input (or inputs)"})
	}
	if !root.Has("output") && !p.chain.Terminal() {
		b.errs = append(b.errs, &config.Error{Pos: config.Pos{File: b.file, Line: 1, Col: 1},
			Msg: "no output: records that reach the end of pipeline.processors need an output"})
	}
	switch {
	case p.Settings.OnError == OnErrorDeadLetter && !root.Has("dead_letter"):
		b.errs = append(b.errs, root.Errorf("on_error", "on_error is dead_letter but no dead_letter output is given"))
	case p.Settings.OnError != OnErrorDeadLetter && root.Has("dead_letter"):
		b.errs = append(b.errs, root.Errorf("dead_letter", "a dead_letter output is given but on_error is %q; set on_error: dead_letter", p.Settings.OnError))
	}
	b.checkExactlyOnce(root, p)
	if p.Settings.MaxInFlight < 1 && !b.failedAt("max_in_flight") {
		b.errs = append(b.errs, root.Errorf("max_in_flight", "must be at least 1"))
	}
	if !root.Has("commit_interval") {
		switch {
		case p.Settings.ProcessingGuarantee == ExactlyOnce:
			p.Settings.CommitInterval = defaultExactlyOnceCommitInterval
		case p.state.stateful():
			p.Settings.CommitInterval = defaultStatefulCommitInterval
		default:
			p.Settings.CommitInterval = defaultCommitInterval
		}
	}
	if p.Settings.MaxTransactionRecords < 1 && !b.failedAt("exactly_once.max_records") {
		b.errs = append(b.errs, root.Object("exactly_once").Errorf("max_records", "must be at least 1"))
	}
	if p.Settings.CommitInterval <= 0 && !b.failedAt("commit_interval") {
		b.errs = append(b.errs, root.Errorf("commit_interval", "must be more than zero"))
	}
}

func withArticle(noun string) string {
	if strings.ContainsRune("aeiou", rune(noun[0])) {
		return "an " + noun
	}
	return "a " + noun
}

// failedAt reports whether a field already has an error, so that checks on
// its value do not pile a second, derived error on the first.
func (b *builder) failedAt(path string) bool {
	for _, e := range b.errs {
		if e.Path == path {
			return true
		}
	}
	return false
}

// component reads a component slot: a mapping with exactly one component
// type key and an optional label.
func (b *builder) component(category string, n *yaml.Node, path, defaultLabel string) (name, label string, conf *config.Parsed, ok bool) {
	errAt := func(at *yaml.Node, p, format string, args ...any) {
		b.errs = append(b.errs, &config.Error{Pos: config.Pos{File: b.file, Line: at.Line, Col: at.Column}, Path: p, Msg: fmt.Sprintf(format, args...)})
	}
	if n.Kind != yaml.MappingNode {
		errAt(n, path, "want %s: a mapping with one %s type as its key", withArticle(category), category)
		return "", "", nil, false
	}
	var typeKey, typeValue *yaml.Node
	var known []string
	for _, s := range b.reg.Specs(category) {
		known = append(known, s.Name)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case k.Value == "label":
			if v.Kind != yaml.ScalarNode || v.Value == "" {
				errAt(v, config.JoinPath(path, "label"), "want a non-empty string")
			}
			label = v.Value
		case typeKey != nil:
			if _, isType := b.reg.spec(category, k.Value); isType {
				errAt(k, config.JoinPath(path, k.Value), "one %s slot holds one component, and %q already is one here; list several under a sequence or a map", category, typeKey.Value)
			} else {
				errAt(k, config.JoinPath(path, k.Value), "unknown field %q next to %s %q (only label may stand beside it)", k.Value, category, typeKey.Value)
			}
		default:
			if _, isType := b.reg.spec(category, k.Value); !isType {
				errAt(k, config.JoinPath(path, k.Value), "unknown %s %q%s", category, k.Value, config.Suggest(k.Value, append(known, "label")))
				return "", "", nil, false
			}
			typeKey, typeValue = k, v
		}
	}
	if typeKey == nil {
		errAt(n, path, "no %s type given: name one of %s", category, strings.Join(known, ", "))
		return "", "", nil, false
	}
	spec, _ := b.reg.spec(category, typeKey.Value)
	if typeValue.Kind == yaml.ScalarNode && typeValue.Tag != "!!null" && spec.Shorthand != "" {
		typeValue = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: typeValue.Line, Column: typeValue.Column,
			Content: []*yaml.Node{{Kind: yaml.ScalarNode, Tag: "!!str", Value: spec.Shorthand, Line: typeValue.Line, Column: typeValue.Column}, typeValue}}
	}
	conf, errs := config.Parse(b.file, config.JoinPath(path, typeKey.Value), typeValue, spec.Fields)
	b.errs = append(b.errs, errs...)
	if label == "" {
		label = defaultLabel
	}
	if label == "" {
		label = typeKey.Value
	}
	if label != typeKey.Value || defaultLabel != "" {
		if other, dup := b.labels[label]; dup {
			errAt(n, path, "label %q is already used by %s", label, other)
		}
		b.labels[label] = path
	}
	return typeKey.Value, label, conf, len(errs) == 0
}

func (b *builder) resources(label, path string, n *yaml.Node) *Resources {
	return &Resources{Pipeline: b.pipelineName, Instance: b.instance, Label: label, Path: path, Logger: b.log.With("component", path, "label", label), b: b,
		definition: config.Fingerprint(n)}
}

// constructed records a constructor's error, positioned at the component
// when the error carries no position of its own.
func (b *builder) constructed(err error, conf *config.Parsed, at *yaml.Node) bool {
	if err == nil {
		return true
	}
	if errors.Is(err, errAlreadyReported) {
		return false
	}
	var ce *config.Error
	var ces config.Errors
	switch {
	case errors.As(err, &ces):
		b.errs = append(b.errs, ces...)
	case errors.As(err, &ce):
		b.errs = append(b.errs, ce)
	default:
		b.errs = append(b.errs, &config.Error{Pos: config.Pos{File: b.file, Line: at.Line, Col: at.Column}, Path: conf.Path(), Msg: err.Error()})
	}
	return false
}

func (b *builder) output(n *yaml.Node, path, defaultLabel string) int {
	name, label, conf, ok := b.component("output", n, path, defaultLabel)
	if !ok {
		return -1
	}
	out, err := b.reg.outputs[name].New(conf, b.resources(label, path, n))
	if !b.constructed(err, conf, n) {
		return -1
	}
	b.outputs = append(b.outputs, &outputNode{name: defaultLabel, label: label, path: path, index: len(b.outputs), output: out,
		metrics: b.metrics.component("output", label, path)})
	return len(b.outputs) - 1
}

func (b *builder) input(p *Pipeline, n *yaml.Node, path, defaultLabel string) {
	name, label, conf, ok := b.component("input", n, path, defaultLabel)
	if l := cmp.Or(label, defaultLabel); l != "" {
		b.inputLabels = append(b.inputLabels, l)
	}
	if !ok {
		return
	}
	res := b.resources(label, path, n)
	in, err := b.reg.inputs[name].New(conf, res)
	if !b.constructed(err, conf, n) {
		return
	}
	p.inputs = append(p.inputs, &inputNode{label: label, path: path, definition: res.definition, input: in,
		metrics: b.metrics.component("input", label, path)})
}

func (b *builder) chain(n *yaml.Node, path string) *Chain {
	c := &Chain{}
	if n == nil {
		return c
	}
	for i, item := range n.Content {
		stepPath := config.JoinPath(path, strconv.Itoa(i))
		name, label, conf, ok := b.component("processor", item, stepPath, "")
		if !ok {
			continue
		}
		proc, err := b.reg.processors[name].New(conf, b.resources(label, stepPath, item))
		if !b.constructed(err, conf, item) {
			continue
		}
		c.steps = append(c.steps, &step{proc: proc, label: label, path: stepPath, metrics: b.metrics.component("processor", label, stepPath)})
	}
	return c
}
