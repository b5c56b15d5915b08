// Package filter is the `filter` processor: it keeps the records for which a
// condition is true.
//
// It owns its spec, constructor and tests, and imports only engine and config.
package filter
