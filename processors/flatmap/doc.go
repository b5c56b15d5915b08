// Package flatmap is the `flat_map` processor: it replaces each record by one
// derived record per element of a list an expression returns.
//
// It owns its spec, constructor and tests, and imports only engine and config.
package flatmap
