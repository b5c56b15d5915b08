# Sourced by the Java references (e2e/streams/streams.sh, e2e/debezium/debezium.sh): fetches the
# Maven Central jars of the reference's pom.xml and compiles its src/*.java, both cached, so a
# second run neither fetches nor compiles. The sourcing script sets
#
#   REF      the reference's name: the cache folders are $CACHE/$REF-jars-<hash of pom.xml> and
#            $CACHE/$REF-classes-<hash of pom.xml and src/*.java>; older copies are removed
#   WHAT     what the jars are, for the messages ("the Kafka Streams jars")
#   NEEDS    what Java it needs, for the messages ("Kafka Streams 4.x needs Java 17+")
#   HERE     the reference's folder (pom.xml, src/)
#
# Exit status 3: a tool is missing or the jars cannot be fetched (the test skips, or fails under
# CI=true); any other failure is an error of the reference itself.

CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/pipeline-e2e"

unavailable() { echo "$REF.sh: $*" >&2; exit 3; }
die() { echo "$REF.sh: $*" >&2; exit 1; }

# build prints the classpath as the last line of stdout.
build() {
	command -v java >/dev/null || unavailable "java not found ($NEEDS)"
	command -v javac >/dev/null || unavailable "javac not found (a JDK 17+ is needed to compile the reference)"
	mkdir -p "$CACHE"
	local pomhash srchash jars classes
	pomhash="$(sha256sum "$HERE/pom.xml" | cut -c1-16)"
	srchash="$(cat "$HERE/pom.xml" "$HERE"/src/*.java | sha256sum | cut -c1-16)"
	jars="$CACHE/$REF-jars-$pomhash"
	classes="$CACHE/$REF-classes-$srchash"
	(
		flock 9
		if [[ ! -f "$jars/.complete" ]]; then
			command -v mvn >/dev/null || unavailable "mvn not found (needed once to fetch $WHAT)"
			rm -rf "$jars"
			mvn -q -B -f "$HERE/pom.xml" dependency:copy-dependencies -DoutputDirectory="$jars" >&2 ||
				{ rm -rf "$jars"; unavailable "mvn could not fetch $WHAT (no network to Maven Central?)"; }
			touch "$jars/.complete"
			find "$CACHE" -maxdepth 1 -name "$REF-jars-*" ! -path "$jars" -exec rm -rf {} +
		fi
		if [[ ! -f "$classes/.complete" ]]; then
			rm -rf "$classes"
			mkdir -p "$classes"
			javac -nowarn -encoding UTF-8 --release 17 -d "$classes" -cp "$jars/*" "$HERE"/src/*.java >&2 ||
				{ rm -rf "$classes"; die "compiling $HERE/src failed"; }
			touch "$classes/.complete"
			find "$CACHE" -maxdepth 1 -name "$REF-classes-*" ! -path "$classes" -exec rm -rf {} +
		fi
	) 9>"$CACHE/.$REF.lock" || exit $?
	echo "$classes:$jars/*"
}

# run_java HEAP_MB CLASS ARGS... builds, then replaces this shell by the JVM running CLASS. The
# serial collector and the C1 compiler only: a short run on a machine of two cores, beside the
# pipeline, where C2 costs more than it gains.
run_java() {
	local heap="$1" class="$2" cp
	shift 2
	cp="$(build | tail -n 1)"
	exec java -Xms128m "-Xmx${heap}m" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError \
		-Djava.awt.headless=true -cp "$cp" "$class" "$@"
}
