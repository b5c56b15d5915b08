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
# Caching and exit statuses: e2e/javaref/javaref.sh.
set -euo pipefail
shopt -s inherit_errexit

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REF=streams WHAT="the Kafka Streams jars" NEEDS="Kafka Streams 4.x needs Java 17+"
# shellcheck source=../javaref/javaref.sh
source "$HERE/../javaref/javaref.sh"

cmd="${1:-}"
shift || true
case "$cmd" in
build) build ;;
run) run_java 1024 StreamsReference "$@" ;;
join) run_java 1024 StreamsJoinReference "$@" ;;
*) die "usage: streams.sh build | run [FILE] | join [FILE]" ;;
esac
