// Package enginetest is test support for the component packages (inputs and
// outputs): it parses a component's fields from YAML and constructs it, builds
// and runs a whole pipeline from a YAML string, and checks that a spec's
// example builds.
//
// It is imported only by tests of components. It imports engine and config
// and must not import any component package: callers pass the registration
// functions a build needs, e.g.
//
//	enginetest.Build(t, yaml, inputs.Register, outputs.Register)
package enginetest
