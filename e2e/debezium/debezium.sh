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
# The jars are cached in ${XDG_CACHE_HOME:-$HOME/.cache}/pipeline-e2e/debezium-jars-<hash of
# pom.xml>, the classes in .../debezium-classes-<hash of pom.xml and src/*.java>.
#
# Exit status 3: a tool is missing or the jars cannot be fetched (the test skips, or fails
# under CI=true); any other failure is an error of this reference itself.
set -euo pipefail
shopt -s inherit_errexit

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/pipeline-e2e"

unavailable() { echo "debezium.sh: $*" >&2; exit 3; }
die() { echo "debezium.sh: $*" >&2; exit 1; }

build() {
	command -v java >/dev/null || unavailable "java not found (Debezium 3.x needs Java 17+)"
	command -v javac >/dev/null || unavailable "javac not found (a JDK 17+ is needed to compile the reference)"
	mkdir -p "$CACHE"
	local pomhash srchash jars classes
	pomhash="$(sha256sum "$HERE/pom.xml" | cut -c1-16)"
	srchash="$(cat "$HERE/pom.xml" "$HERE"/src/*.java | sha256sum | cut -c1-16)"
	jars="$CACHE/debezium-jars-$pomhash"
	classes="$CACHE/debezium-classes-$srchash"
	(
		flock 9
		if [[ ! -f "$jars/.complete" ]]; then
			command -v mvn >/dev/null || unavailable "mvn not found (needed once to fetch the Debezium jars)"
			rm -rf "$jars"
			mvn -q -B -f "$HERE/pom.xml" dependency:copy-dependencies -DoutputDirectory="$jars" >&2 ||
				{ rm -rf "$jars"; unavailable "mvn could not fetch the Debezium jars (no network to Maven Central?)"; }
			touch "$jars/.complete"
			find "$CACHE" -maxdepth 1 -name 'debezium-jars-*' ! -path "$jars" -exec rm -rf {} +
		fi
		if [[ ! -f "$classes/.complete" ]]; then
			rm -rf "$classes"
			mkdir -p "$classes"
			javac -nowarn -encoding UTF-8 --release 17 -d "$classes" -cp "$jars/*" "$HERE"/src/*.java >&2 ||
				{ rm -rf "$classes"; die "compiling $HERE/src failed"; }
			touch "$classes/.complete"
			find "$CACHE" -maxdepth 1 -name 'debezium-classes-*' ! -path "$classes" -exec rm -rf {} +
		fi
	) 9>"$CACHE/.debezium.lock" || exit $?
	echo "$classes:$jars/*"
}

cmd="${1:-}"
shift || true
case "$cmd" in
build) build ;;
run)
	[[ $# -eq 3 ]] || die "usage: debezium.sh run PROPERTIES EVENTS SECONDS"
	cp="$(build | tail -n 1)"
	exec java -Xms128m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError \
		-Djava.awt.headless=true -cp "$cp" DebeziumReference "$@"
	;;
*) die "usage: debezium.sh build | run PROPERTIES EVENTS SECONDS" ;;
esac
