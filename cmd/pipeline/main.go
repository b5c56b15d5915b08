// Command pipeline runs declarative YAML stream pipelines, and checks,
// documents and describes them: run, lint, schema, list and version.
//
// main stays tiny so that tests call run in-process (see main_test.go).
package main

import "os"

// version is set at link time with -ldflags "-X main.version=v1.2.3". It is
// a package variable only because the linker can set nothing else; it is
// read once, in main, and handed down.
var version string

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, version))
}
