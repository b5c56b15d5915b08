// Package file is the file input: it reads files one after another, each file
// one partition, as lines, JSON lines or CSV rows.
//
// It owns its spec, constructor and readers. It imports engine, config and
// the inputs' internal line splitter, and internal/fifo for named pipes;
// never another component.
package file
