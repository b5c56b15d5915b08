#!/usr/bin/env bash
# A real, single-node Apache Kafka broker (KRaft, combined broker+controller on
# 127.0.0.1) for the e2e suite, run from the Maven Central jars listed in pom.xml.
#
#   broker.sh deps                   fetch the jars (cached) and install kcat if missing
#   broker.sh kcat                   install kcat if missing (tests of the development broker)
#   broker.sh start DIR PORT [CPORT] format DIR, start the broker in the background
#                                    (pid in DIR/broker.pid, log in DIR/broker.log) with
#                                    PLAINTEXT on PORT and CONTROLLER on CPORT (default: a
#                                    free port), wait until every listener accepts
#                                    connections, and print the PLAINTEXT bootstrap
#                                    (127.0.0.1:PORT) as the last line of stdout
#   broker.sh start DIR              restart the broker of an already formatted DIR: its
#                                    data (topics, committed offsets) is kept, not
#                                    reformatted, and every listener keeps its port
#   broker.sh stop DIR               stop the broker started in DIR and wait for it to exit
#
# Besides PLAINTEXT, every broker has three security listeners on free ports:
#
#   SASL_PLAINTEXT  mechanisms PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512
#   SSL             TLS with a client certificate required (ssl.client.auth=required)
#   SASL_SSL        the same SASL mechanisms over TLS (no client certificate)
#
# The PLAIN user is declared in the listener's JAAS config; the SCRAM user gets
# SCRAM-SHA-256 and SCRAM-SHA-512 credentials when DIR is formatted (--add-scram).
# Passwords are random per DIR. A throwaway CA, a broker certificate (SAN
# IP:127.0.0.1, DNS:localhost) and a client certificate are made with openssl in
# DIR/tls (PEM; the broker reads PEM key and trust stores). Everything a client
# needs is written to DIR/listeners.env as KEY=VALUE lines:
#
#   KAFKA_PLAINTEXT, KAFKA_SASL_PLAINTEXT, KAFKA_SSL, KAFKA_SASL_SSL   host:port
#   KAFKA_CONTROLLER_PORT
#   KAFKA_PLAIN_USER, KAFKA_PLAIN_PASSWORD, KAFKA_SCRAM_USER, KAFKA_SCRAM_PASSWORD
#   KAFKA_TLS_CA, KAFKA_TLS_CERT, KAFKA_TLS_KEY   CA, client certificate, client key
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

# free_port picks a port that nothing listens on, below the kernel's ephemeral
# range, so that no client connection can take it before the broker binds it.
free_port() {
	local p lo=32768
	read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
	((lo > 12000)) || lo=32768
	for _ in $(seq 1 200); do
		p=$((10000 + (RANDOM * 32768 + RANDOM) % (lo - 10000)))
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
	install_kcat
}

# install_kcat installs Debian's kcat once, whichever test asks first.
install_kcat() {
	command -v kcat >/dev/null && return
	mkdir -p "$CACHE"
	(
		flock 9
		command -v kcat >/dev/null && exit 0
		(apt-get update -qq && apt-get install -y -qq kcat) >&2 || die "kcat not found and could not be installed"
	) 9>"$CACHE/.apt.lock"
}

kjava() { java -cp "$LIBS/*" "$@"; }

# A Kafka cluster id: 16 random bytes, base64url without padding, not starting
# with '-' (what kafka-storage random-uuid makes, without starting a JVM).
cluster_id() {
	local id
	while :; do
		id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
		[[ "$id" != -* ]] && { echo "$id"; return; }
	done
}

secret() { head -c 18 /dev/urandom | base64 | tr '+/' 'xy' | tr -d '='; }

# tls DIR: a throwaway CA, a broker certificate and a client certificate (EC P-256,
# PEM, unencrypted PKCS#8 keys) in DIR/tls.
make_tls() {
	local t="$1/tls"
	command -v openssl >/dev/null || die "openssl not found (needed for the TLS listeners)"
	mkdir -p "$t"
	local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
	{
		openssl req -x509 "${ec[@]}" -keyout "$t/ca-key.pem" -out "$t/ca.pem" -days 3650 \
			-subj "/CN=pipeline-e2e-ca" \
			-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
		local who
		for who in broker client; do
			openssl req -new "${ec[@]}" -keyout "$t/$who-key.pem" -out "$t/$who.csr" -subj "/CN=pipeline-e2e-$who"
			if [[ $who == broker ]]; then
				printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n' >"$t/$who.ext"
			else
				printf 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n' >"$t/$who.ext"
			fi
			openssl x509 -req -in "$t/$who.csr" -CA "$t/ca.pem" -CAkey "$t/ca-key.pem" -CAcreateserial \
				-days 3650 -extfile "$t/$who.ext" -out "$t/$who.pem"
		done
	} >"$t/openssl.log" 2>&1 || { cat "$t/openssl.log" >&2; die "making the TLS certificates in $t failed"; }
	# The broker's PEM key store: private key, then its certificate chain.
	cat "$t/broker-key.pem" "$t/broker.pem" "$t/ca.pem" >"$t/broker-keystore.pem"
	chmod 600 "$t"/*-key.pem "$t/broker-keystore.pem"
}

write_properties() {
	local dir="$1"
	local jaas_plain="org.apache.kafka.common.security.plain.PlainLoginModule required user_${KAFKA_PLAIN_USER}=\"${KAFKA_PLAIN_PASSWORD}\";"
	local jaas_scram="org.apache.kafka.common.security.scram.ScramLoginModule required;"
	local l
	{
		cat <<PROPS
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://$KAFKA_PLAINTEXT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT,SASL_PLAINTEXT://$KAFKA_SASL_PLAINTEXT,SSL://$KAFKA_SSL,SASL_SSL://$KAFKA_SASL_SSL
advertised.listeners=PLAINTEXT://$KAFKA_PLAINTEXT,SASL_PLAINTEXT://$KAFKA_SASL_PLAINTEXT,SSL://$KAFKA_SSL,SASL_SSL://$KAFKA_SASL_SSL
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
controller.quorum.bootstrap.servers=127.0.0.1:$KAFKA_CONTROLLER_PORT
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
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
ssl.keystore.type=PEM
ssl.keystore.location=$dir/tls/broker-keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$dir/tls/ca.pem
ssl.client.auth=none
listener.name.ssl.ssl.client.auth=required
PROPS
		for l in sasl_plaintext sasl_ssl; do
			echo "listener.name.$l.plain.sasl.jaas.config=$jaas_plain"
			echo "listener.name.$l.scram-sha-256.sasl.jaas.config=$jaas_scram"
			echo "listener.name.$l.scram-sha-512.sasl.jaas.config=$jaas_scram"
		done
	} >"$dir/server.properties"
}

start() {
	[[ $# -ge 1 ]] || die "usage: broker.sh start DIR PORT [CPORT] | start DIR (restart)"
	local dir
	dir="$(mkdir -p "$1" && cd "$1" && pwd)"
	deps
	local jopts=(-Xms128m -Xmx512m -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
		 "-Dlog4j2.configurationFile=$HERE/log4j2.properties")
	if [[ -f "$dir/data/meta.properties" && -f "$dir/listeners.env" ]]; then
		# A restart: same data, same ports, same users and certificates.
		# shellcheck disable=SC1091
		source "$dir/listeners.env"
		[[ $# -lt 2 || "127.0.0.1:$2" == "$KAFKA_PLAINTEXT" ]] ||
			die "$dir is already formatted for $KAFKA_PLAINTEXT, not port $2 (restart with: broker.sh start DIR)"
		[[ -f "$dir/broker.pid" ]] && kill -0 "$(cat "$dir/broker.pid")" 2>/dev/null &&
			die "the broker of $dir is already running (pid $(cat "$dir/broker.pid"))"
	else
		[[ $# -ge 2 ]] || die "usage: broker.sh start DIR PORT [CPORT]"
		local port="$2" cport="${3:-}" p taken
		port_open "$port" && die "port $port is already in use"
		taken=" $port ${cport} "
		pick() {
			while :; do
				p="$(free_port)"
				[[ "$taken" != *" $p "* ]] && break
			done
			taken+="$p "
		}
		[[ -n "$cport" ]] || { pick; cport="$p"; }
		KAFKA_PLAINTEXT="127.0.0.1:$port"
		KAFKA_CONTROLLER_PORT="$cport"
		pick; KAFKA_SASL_PLAINTEXT="127.0.0.1:$p"
		pick; KAFKA_SSL="127.0.0.1:$p"
		pick; KAFKA_SASL_SSL="127.0.0.1:$p"
		KAFKA_PLAIN_USER=plainuser
		KAFKA_PLAIN_PASSWORD="plain-$(secret)"
		KAFKA_SCRAM_USER=scramuser
		KAFKA_SCRAM_PASSWORD="scram-$(secret)"
		KAFKA_TLS_CA="$dir/tls/ca.pem"
		KAFKA_TLS_CERT="$dir/tls/client.pem"
		KAFKA_TLS_KEY="$dir/tls/client-key.pem"
		rm -rf "$dir/data" "$dir/tls"
		mkdir -p "$dir/data"
		make_tls "$dir"
		write_properties "$dir"
		kjava "${jopts[@]}" kafka.tools.StorageTool format --standalone -t "$(cluster_id)" \
			-c "$dir/server.properties" \
			--add-scram "SCRAM-SHA-256=[name=\"$KAFKA_SCRAM_USER\",password=\"$KAFKA_SCRAM_PASSWORD\"]" \
			--add-scram "SCRAM-SHA-512=[name=\"$KAFKA_SCRAM_USER\",password=\"$KAFKA_SCRAM_PASSWORD\"]" \
			>"$dir/format.log" 2>&1 ||
			{ cat "$dir/format.log" >&2; rm -rf "$dir/data"; die "formatting $dir/data failed"; }
		# Written last: its presence (with data/meta.properties) marks DIR as formatted.
		cat >"$dir/listeners.env.tmp" <<ENV
KAFKA_PLAINTEXT=$KAFKA_PLAINTEXT
KAFKA_CONTROLLER_PORT=$KAFKA_CONTROLLER_PORT
KAFKA_SASL_PLAINTEXT=$KAFKA_SASL_PLAINTEXT
KAFKA_SSL=$KAFKA_SSL
KAFKA_SASL_SSL=$KAFKA_SASL_SSL
KAFKA_PLAIN_USER=$KAFKA_PLAIN_USER
KAFKA_PLAIN_PASSWORD=$KAFKA_PLAIN_PASSWORD
KAFKA_SCRAM_USER=$KAFKA_SCRAM_USER
KAFKA_SCRAM_PASSWORD=$KAFKA_SCRAM_PASSWORD
KAFKA_TLS_CA=$KAFKA_TLS_CA
KAFKA_TLS_CERT=$KAFKA_TLS_CERT
KAFKA_TLS_KEY=$KAFKA_TLS_KEY
ENV
		chmod 600 "$dir/listeners.env.tmp"
		mv "$dir/listeners.env.tmp" "$dir/listeners.env"
	fi
	local addr
	for addr in "$KAFKA_PLAINTEXT" "$KAFKA_SASL_PLAINTEXT" "$KAFKA_SSL" "$KAFKA_SASL_SSL" "127.0.0.1:$KAFKA_CONTROLLER_PORT"; do
		port_open "${addr##*:}" && die "port ${addr##*:} ($addr) is already in use"
	done
	# setsid + redirected stdio: the broker outlives this script and holds none of the
	# caller's pipes open. A restart appends to the log.
	setsid java -cp "$LIBS/*" "${jopts[@]}" kafka.Kafka "$dir/server.properties" \
		</dev/null >>"$dir/broker.log" 2>&1 &
	local pid=$!
	echo "$pid" >"$dir/broker.pid"
	local deadline=$((SECONDS + START_TIMEOUT))
	for addr in "$KAFKA_PLAINTEXT" "$KAFKA_SASL_PLAINTEXT" "$KAFKA_SSL" "$KAFKA_SASL_SSL"; do
		until port_open "${addr##*:}"; do
			if ! kill -0 "$pid" 2>/dev/null; then
				tail -n 50 "$dir/broker.log" >&2
				die "broker exited during startup (log: $dir/broker.log)"
			fi
			if ((SECONDS >= deadline)); then
				tail -n 50 "$dir/broker.log" >&2
				stop "$dir" || true
				die "broker did not listen on $addr within ${START_TIMEOUT}s (log: $dir/broker.log)"
			fi
			sleep 0.2
		done
	done
	if [[ -n "${KAFKA_OWNER_PID:-}" ]]; then
		setsid bash -c '
			while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done
			# A broker stopped while its owner lives (a test restarting it) is not
			# this watchdog'"'"'s business any more: a restart leaves a new watchdog.
			kill -0 "$1" 2>/dev/null && exit 0
			"$3" stop "$4"
			[[ "$5" == 1 ]] && rm -rf "$4"
			exit 0' watchdog "$KAFKA_OWNER_PID" "$pid" "$HERE/broker.sh" "$dir" \
			"${KAFKA_OWNER_REMOVE_DIR:-0}" </dev/null >/dev/null 2>&1 &
	fi
	echo "$KAFKA_PLAINTEXT"
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
kcat) install_kcat ;;
start) start "$@" ;;
stop) stop "$@" ;;
*) die "usage: broker.sh deps | kcat | start DIR PORT [CPORT] | start DIR | stop DIR" ;;
esac
