// Package log is the `log` processor: it logs a message per record through
// the pipeline's logger and passes every record on unchanged.
//
// It owns its spec, constructor and tests, and imports only engine and config.
package log
