// Package mapping is the `map` processor: it rewrites a record's value, fields
// inside a JSON object value, its key, headers and timestamp with expressions.
// (`map` is a Go keyword, hence the package name.)
//
// It owns its spec, constructor and tests, and imports only engine and config.
package mapping
