package engine

import (
	"fmt"
	"sort"

	"github.com/pipelinehq/pipeline/config"
)

// InputPlugin is an input type: its spec and its constructor.
type InputPlugin struct {
	Spec config.Spec
	New  func(conf *config.Parsed, res *Resources) (Input, error)
}

// ProcessorPlugin is a processor type: its spec and its constructor.
type ProcessorPlugin struct {
	Spec config.Spec
	New  func(conf *config.Parsed, res *Resources) (Processor, error)
}

// OutputPlugin is an output type: its spec and its constructor.
type OutputPlugin struct {
	Spec config.Spec
	New  func(conf *config.Parsed, res *Resources) (Output, error)
}

// Registry knows the component types a build may use. It is a plain value,
// filled by explicit registration calls (see inputs.Register and friends).
type Registry struct {
	inputs     map[string]InputPlugin
	processors map[string]ProcessorPlugin
	outputs    map[string]OutputPlugin
}

// NewRegistry returns a registry filled by the given registration functions,
// such as inputs.Register.
func NewRegistry(registrations ...func(*Registry)) *Registry {
	r := &Registry{
		inputs:     map[string]InputPlugin{},
		processors: map[string]ProcessorPlugin{},
		outputs:    map[string]OutputPlugin{},
	}
	for _, register := range registrations {
		register(r)
	}
	return r
}

func mustBeNew[T any](m map[string]T, category, name string) {
	if _, dup := m[name]; dup {
		panic(fmt.Sprintf("engine: %s %q registered twice", category, name))
	}
}

// AddInput registers an input type.
func (r *Registry) AddInput(p InputPlugin) {
	mustBeNew(r.inputs, "input", p.Spec.Name)
	r.inputs[p.Spec.Name] = p
}

// AddProcessor registers a processor type.
func (r *Registry) AddProcessor(p ProcessorPlugin) {
	mustBeNew(r.processors, "processor", p.Spec.Name)
	r.processors[p.Spec.Name] = p
}

// AddOutput registers an output type.
func (r *Registry) AddOutput(p OutputPlugin) {
	mustBeNew(r.outputs, "output", p.Spec.Name)
	r.outputs[p.Spec.Name] = p
}

// Specs returns the specs of one category ("input", "processor", "output"),
// sorted by name.
func (r *Registry) Specs(category string) []config.Spec {
	var specs []config.Spec
	switch category {
	case "input":
		for _, p := range r.inputs {
			specs = append(specs, p.Spec)
		}
	case "processor":
		for _, p := range r.processors {
			specs = append(specs, p.Spec)
		}
	case "output":
		for _, p := range r.outputs {
			specs = append(specs, p.Spec)
		}
	}
	sort.Slice(specs, func(i, j int) bool { return specs[i].Name < specs[j].Name })
	return specs
}

// Categories are the component categories, in graph order.
var Categories = []string{"input", "processor", "output"}

func (r *Registry) spec(category, name string) (config.Spec, bool) {
	switch category {
	case "input":
		p, ok := r.inputs[name]
		return p.Spec, ok
	case "processor":
		p, ok := r.processors[name]
		return p.Spec, ok
	case "output":
		p, ok := r.outputs[name]
		return p.Spec, ok
	}
	return config.Spec{}, false
}
