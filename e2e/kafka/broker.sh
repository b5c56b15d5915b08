#!/usr/bin/env bash
# A real, single-node Apache Kafka broker (KRaft, combined broker+controller on
# 127.0.0.1) for the e2e suite, run from the Maven Central jars listed in pom.xml.
#
#   broker.sh deps                   fetch the jars (cached) and install kcat if missing
#   broker.sh start DIR PORT [CPORT] format DIR, start the broker in the background
#                                    (pid in DIR/broker.pid, log in DIR/broker.log) with
#                                    PLAINTEXT on PORT and CONTROLLER on CPORT (default: a
#                                    free port), and wait until PORT accepts connections
#   broker.sh stop DIR               stop the broker started in DIR and wait for it to exit
#
# With KAFKA_OWNER_PID set, start also leaves a watchdog that stops the broker (and,
# with KAFKA_OWNER_REMOVE_DIR=1, removes DIR) once that process has exited, so a test
# binary that dies or forgets to stop the broker leaves nothing running.
#
# Jars are cached in ${XDG_CACHE_HOME:-$HOME/.cache}/pipeline-e2e/kafka-libs and refetched
# only when pom.xml changes.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/pipeline-e2e"
LIBS="$CACHE/kafka-libs"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"

die() { echo "broker.sh: $*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 40000))
		if ! port_open "$p"; then echo "$p"; return 0; fi
	done
	die "no free port found"
}

deps() {
	command -v java >/dev/null || die "java not found (Kafka 4.x needs Java 17+)"
	mkdir -p "$CACHE"
	local stamp want
	want="$(sha256sum "$HERE/pom.xml" | cut -d' ' -f1)"
	stamp="$LIBS/.pom.sha256"
	(
		flock 9
		if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
			command -v mvn >/dev/null || die "mvn not found (needed once to fetch the Kafka jars)"
			rm -rf "$LIBS"
			mvn -q -B -f "$HERE/pom.xml" dependency:copy-dependencies -DoutputDirectory="$LIBS" >&2 ||
				die "mvn could not fetch the Kafka jars (no network to Maven Central?)"
			echo "$want" >"$stamp"
		fi
	) 9>"$CACHE/.kafka-libs.lock"
	if ! command -v kcat >/dev/null; then
		(apt-get update -qq && apt-get install -y -qq kcat) >&2 || die "kcat not found and could not be installed"
	fi
}

kjava() { java -cp "$LIBS/*" "$@"; }

start() {
	[[ $# -ge 2 ]] || die "usage: broker.sh start DIR PORT [CPORT]"
	local dir port cport
	dir="$(mkdir -p "$1" && cd "$1" && pwd)"
	port="$2"
	cport="${3:-$(free_port)}"
	deps
	port_open "$port" && die "port $port is already in use"
	mkdir -p "$dir/data"
	cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
controller.quorum.bootstrap.servers=127.0.0.1:$cport
log.dirs=$dir/data
num.partitions=3
auto.create.topics.enable=true
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
log.retention.check.interval.ms=300000
PROPS
	local jopts=(-Xms128m -Xmx512m -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
		"-Dlog4j2.configurationFile=$HERE/log4j2.properties")
	local uuid
	uuid="$(kjava "${jopts[@]}" kafka.tools.StorageTool random-uuid)"
	kjava "${jopts[@]}" kafka.tools.StorageTool format --standalone -t "$uuid" \
		-c "$dir/server.properties" >"$dir/format.log" 2>&1 ||
		{ cat "$dir/format.log" >&2; die "formatting $dir/data failed"; }
	# setsid + redirected stdio: the broker outlives this script and holds none of the
	# caller's pipes open.
	setsid java -cp "$LIBS/*" "${jopts[@]}" kafka.Kafka "$dir/server.properties" \
		</dev/null >"$dir/broker.log" 2>&1 &
	local pid=$!
	echo "$pid" >"$dir/broker.pid"
	local deadline=$((SECONDS + START_TIMEOUT))
	until port_open "$port"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 50 "$dir/broker.log" >&2
			die "broker exited during startup (log: $dir/broker.log)"
		fi
		if ((SECONDS >= deadline)); then
			tail -n 50 "$dir/broker.log" >&2
			stop "$dir" || true
			die "broker did not listen on 127.0.0.1:$port within ${START_TIMEOUT}s (log: $dir/broker.log)"
		fi
		sleep 0.2
	done
	if [[ -n "${KAFKA_OWNER_PID:-}" ]]; then
		setsid bash -c '
			while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done
			"$3" stop "$4"
			[[ "$5" == 1 ]] && rm -rf "$4"
			exit 0' watchdog "$KAFKA_OWNER_PID" "$pid" "$HERE/broker.sh" "$dir" \
			"${KAFKA_OWNER_REMOVE_DIR:-0}" </dev/null >/dev/null 2>&1 &
	fi
	echo "127.0.0.1:$port"
}

stop() {
	[[ $# -ge 1 ]] || die "usage: broker.sh stop DIR"
	local dir="$1" pid
	[[ -f "$dir/broker.pid" ]] || return 0
	pid="$(cat "$dir/broker.pid")"
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		local deadline=$((SECONDS + ${KAFKA_STOP_TIMEOUT:-20}))
		while kill -0 "$pid" 2>/dev/null; do
			if ((SECONDS >= deadline)); then
				kill -KILL "$pid" 2>/dev/null || true
			fi
			sleep 0.1
		done
	fi
	rm -f "$dir/broker.pid"
}

cmd="${1:-}"
shift || true
case "$cmd" in
deps) deps ;;
start) start "$@" ;;
stop) stop "$@" ;;
*) die "usage: broker.sh deps | start DIR PORT [CPORT] | stop DIR" ;;
esac
