#!/usr/bin/env bash
# Debezium as a reference for the CDC inputs (e2e/debezium_test.go): src/DebeziumReference.java
# compiled against the Maven Central jars of pom.xml (the embedded engine and the PostgreSQL
# and MySQL connectors, 3.6.1.Final) and run on a connector's properties.
#
#   debezium.sh build                         fetch the jars and compile (both cached); print
#                                             the classpath as the last line of stdout
#   debezium.sh run PROPERTIES EVENTS SECONDS build, then print EVENTS change events of the
#                                             connector as "key TAB value" lines
#
# Caching and exit statuses: e2e/javaref/javaref.sh.
set -euo pipefail
shopt -s inherit_errexit

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REF=debezium WHAT="the Debezium jars" NEEDS="Debezium 3.x needs Java 17+"
# shellcheck source=../javaref/javaref.sh
source "$HERE/../javaref/javaref.sh"

cmd="${1:-}"
shift || true
case "$cmd" in
build) build ;;
run)
	[[ $# -eq 3 ]] || die "usage: debezium.sh run PROPERTIES EVENTS SECONDS"
	run_java 512 DebeziumReference "$@"
	;;
*) die "usage: debezium.sh build | run PROPERTIES EVENTS SECONDS" ;;
esac
