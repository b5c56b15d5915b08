// Package stdin is the stdin input: lines or JSON lines read from the
// process's standard input, as one partition "stdin".
//
// It owns its spec, constructor and reader. It imports engine, config and
// the inputs' internal line splitter; never another component.
package stdin
