#!/usr/bin/env bash
# Kafka Streams as a reference for the aggregate's windows (e2e/streams_diff_test.go):
# src/StreamsReference.java compiled against the Maven Central jars of pom.xml and run
# on cases read as JSON (see the class comment for the format).
#
#   streams.sh build          fetch the jars and compile (both cached); print the
#                             classpath as the last line of stdout
#   streams.sh join [FILE]    the same for the stream–stream join reference
#                             (src/StreamsJoinReference.java, e2e/streams_join_diff_test.go)
#   streams.sh run [FILE]     build, then run the reference on FILE (or stdin), writing
#                             JSON lines to stdout (java -Xmx1g; the state directories
#                             are under /dev/shm when it exists, and removed at exit)
#
# The jars are cached in ${XDG_CACHE_HOME:-$HOME/.cache}/pipeline-e2e/streams-jars-<hash of
# pom.xml>, the classes in .../streams-classes-<hash of pom.xml and src/*.java>: a second
# run neither fetches nor compiles. Older copies are removed when a new one is made.
#
# Exit status 3: a tool is missing or the jars cannot be fetched (the test skips, or
# fails under CI=true); any other failure is an error of this reference itself.
set -euo pipefail
shopt -s inherit_errexit

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/pipeline-e2e"

unavailable() { echo "streams.sh: $*" >&2; exit 3; }
die() { echo "streams.sh: $*" >&2; exit 1; }

build() {
	command -v java >/dev/null || unavailable "java not found (Kafka Streams 4.x needs Java 17+)"
	command -v javac >/dev/null || unavailable "javac not found (a JDK 17+ is needed to compile the reference)"
	mkdir -p "$CACHE"
	local pomhash srchash jars classes
	pomhash="$(sha256sum "$HERE/pom.xml" | cut -c1-16)"
	srchash="$(cat "$HERE/pom.xml" "$HERE"/src/*.java | sha256sum | cut -c1-16)"
	jars="$CACHE/streams-jars-$pomhash"
	classes="$CACHE/streams-classes-$srchash"
	(
		flock 9
		if [[ ! -f "$jars/.complete" ]]; then
			command -v mvn >/dev/null || unavailable "mvn not found (needed once to fetch the Kafka Streams jars)"
			rm -rf "$jars"
			mvn -q -B -f "$HERE/pom.xml" dependency:copy-dependencies -DoutputDirectory="$jars" >&2 ||
				{ rm -rf "$jars"; unavailable "mvn could not fetch the Kafka Streams jars (no network to Maven Central?)"; }
			touch "$jars/.complete"
			find "$CACHE" -maxdepth 1 -name 'streams-jars-*' ! -path "$jars" -exec rm -rf {} +
		fi
		if [[ ! -f "$classes/.complete" ]]; then
			rm -rf "$classes"
			mkdir -p "$classes"
			javac -nowarn -encoding UTF-8 --release 17 -d "$classes" -cp "$jars/*" "$HERE"/src/*.java >&2 ||
				{ rm -rf "$classes"; die "compiling $HERE/src failed"; }
			touch "$classes/.complete"
			find "$CACHE" -maxdepth 1 -name 'streams-classes-*' ! -path "$classes" -exec rm -rf {} +
		fi
	) 9>"$CACHE/.streams.lock" || exit $?
	echo "$classes:$jars/*"
}

cmd="${1:-}"
shift || true
case "$cmd" in
build) build ;;
run)
	cp="$(build | tail -n 1)"
	# The serial collector and the C1 compiler only: a short run on a machine of
	# two cores, beside the pipeline, where C2 costs more than it gains.
	exec java -Xms256m -Xmx1g -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError \
		-Djava.awt.headless=true -cp "$cp" StreamsReference "$@"
	;;
join)
	cp="$(build | tail -n 1)"
	exec java -Xms256m -Xmx1g -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError \
		-Djava.awt.headless=true -cp "$cp" StreamsJoinReference "$@"
	;;
*) die "usage: streams.sh build | run [FILE] | join [FILE]" ;;
esac
