// Package processors lists the built-in processors. Each processor lives in its own folder
// below this one (its spec, constructor and tests); Register is the one place
// that names them all. A new processor is one folder and one line in Register.
//
// A processor package may import engine, config, statestore and the helpers
// under processors/internal (joinside: the two sides of a join; proctest:
// tests); never another component.
package processors
