// Package config turns YAML files into validated, positioned configuration.
//
// It owns everything between the bytes of a config file and the typed values a
// component reads: parsing with gopkg.in/yaml.v3 so every node keeps its line and
// column, `${VAR}` / `${VAR:default}` interpolation, `--set path=value` overrides,
// the field specs that describe a component's configuration once (and so drive
// decoding, defaults, lint, docs and the JSON Schema), and errors printed as
// `file:line:col: field.path: message`. Every way a config enters (a file,
// bytes, --set values) goes through Load, which bounds its size and nodes
// (MaxBytes, MaxNodes) and expands its aliases within a budget, so nothing
// after it follows an alias.
//
// It imports nothing of this project: the engine and the components depend on it,
// never the other way round. Fields that hold other components (an input, a list
// of processors) are kept as raw nodes here and resolved by the engine's registry.
package config
