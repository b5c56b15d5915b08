// Package outputs lists the built-in outputs. Each output lives in its own folder
// below this one (its spec, constructor and tests); Register is the one place
// that names them all. A new output is one folder and one line in Register.
//
// A output package may import engine, config, statestore and the internal
// packages shared by components (internal/kafkaclient, internal/sqldb, …);
// never another component.
package outputs
