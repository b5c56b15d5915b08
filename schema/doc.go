// Package schema generates the JSON Schema of pipeline config files from the
// engine's root fields and the specs of every registered component, so that
// editors (VS Code's YAML extension, anything running yaml-language-server)
// complete, document and check a config as it is typed.
//
// It owns Generate and the committed schema/pipeline.schema.json, which a
// config names in its first line:
//
//	# yaml-language-server: $schema=../schema/pipeline.schema.json
//
// The schema is draft-07 (the widest editor support) and mirrors what the
// engine accepts: exactly one component per input, processor and output slot
// (plus an optional label), no unknown fields, every field typed, documented
// and defaulted as in its spec, bare-scalar shorthands where a spec has one,
// and `${VAR}` / `${VAR:default}` wherever a scalar may stand.
//
// It may import engine and config, never a component package: which
// components exist is the caller's registry. Its tests also import the
// component lists (inputs, processors, outputs) to check that the committed
// file is current (`go test ./schema -update` rewrites it) and validate
// configs against it with an independent validator.
package schema
