// Package branch is the `branch` processor: ordered cases send each record
// through their own processor list and on to a named output, or back into the
// main chain in input order.
//
// It owns its spec, constructor and tests, and imports only engine and config;
// nested processors are built by the engine (Resources.Processors), never
// imported.
package branch
