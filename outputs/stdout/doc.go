// Package stdout is the stdout output: records written to the process's
// standard output, one line each, in a codec of outputs/internal/encode.
//
// It owns its spec, constructor and writer. It imports engine, config and
// the outputs' internal encoder; never another component.
package stdout
