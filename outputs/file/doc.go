// Package file is the file output: records written to one file, one line
// each, in a codec of outputs/internal/encode.
//
// It owns its spec, constructor and writer. It imports engine, config and
// the outputs' internal encoder, and internal/fifo for named pipes; never
// another component.
package file
