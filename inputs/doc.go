// Package inputs lists the built-in inputs. Each input lives in its own folder
// below this one (its spec, constructor and tests); Register is the one place
// that names them all. A new input is one folder and one line in Register.
//
// A input package may import engine, config, statestore and the internal
// packages shared by components (internal/kafkaclient, internal/sqldb, …);
// never another component.
package inputs
