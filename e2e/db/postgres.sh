#!/usr/bin/env bash
# A private PostgreSQL server for the e2e suite, from Debian's packages, on a
# loopback port and a data directory of its own. It never touches a system
# service or the system's clusters.
#
#   postgres.sh deps            install PostgreSQL (Debian's postgresql package) if missing
#   postgres.sh start DIR PORT  initdb DIR/data (first time), start the server on
#                               127.0.0.1:PORT (socket in DIR), wait until it accepts
#                               connections; print the DSN of database app as the last line
#   postgres.sh start DIR       start the server of an initialized DIR again (same port)
#   postgres.sh stop DIR        stop it (fast shutdown) and wait until it has exited
#   postgres.sh kill DIR        stop it immediately (SIGKILL of the postmaster): a crash
#
# The superuser is "pipeline" with a random password (scram-sha-256 over TCP;
# trust on the socket, for the tests' psql). DIR/server.env holds
# PG_PORT, PG_USER, PG_PASSWORD, PG_DSN (a postgres:// URL to database app) and PG_SOCKET.
# The server has wal_level=logical, so that CDC tests can use it too, and
# fsync off (its data is throwaway; a crashed server keeps every commit, the OS
# still has it).
#
# Run as root, the server runs as the user "postgres" (the package's). With
# PG_OWNER_PID set, start leaves a watchdog that stops the server (and with
# PG_OWNER_REMOVE_DIR=1 removes DIR) once that process has exited.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/pipeline-e2e"
die() { echo "postgres.sh: $*" >&2; exit 1; }

bindir() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		[[ -x "$d/initdb" && -x "$d/pg_ctl" ]] && { echo "$d"; return 0; }
	done
	return 1
}

deps() {
	if bindir >/dev/null && command -v psql >/dev/null; then return 0; fi
	mkdir -p "$CACHE"
	(
		flock 9
		bindir >/dev/null && command -v psql >/dev/null && exit 0
		[[ $(id -u) == 0 ]] || die "PostgreSQL is not installed, and installing it needs root"
		# policy-rc.d keeps the package from starting the system cluster here.
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-client) >&2 ||
			die "PostgreSQL not found and could not be installed"
	) 9>"$CACHE/.apt.lock"
	bindir >/dev/null || die "PostgreSQL installed, but no /usr/lib/postgresql/*/bin/initdb"
}

# as_owner runs a command as the server's owner: postgres when we are root.
as_owner() {
	if [[ $(id -u) == 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

secret() { head -c 18 /dev/urandom | base64 | tr '+/' 'xy' | tr -d '='; }

start() {
	[[ $# -ge 1 ]] || die "usage: postgres.sh start DIR [PORT]"
	local dir="$1" bin
	bin="$(bindir)" || die "PostgreSQL is not installed (run postgres.sh deps)"
	if [[ ! -f "$dir/server.env" ]]; then
		[[ $# -ge 2 ]] || die "usage: postgres.sh start DIR PORT"
		local port="$2" password
		password="pw-$(secret)"
		mkdir -p "$dir"
		chmod 755 "$dir"
		[[ $(id -u) == 0 ]] && chown postgres "$dir"
		printf '%s\n' "$password" >"$dir/pwfile"
		chmod 644 "$dir/pwfile"
		as_owner "$bin/initdb" -D "$dir/data" -U pipeline --pwfile="$dir/pwfile" \
			--auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 --no-sync \
			>"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
		rm -f "$dir/pwfile"
		cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
wal_level = logical
max_wal_senders = 32
max_replication_slots = 32
fsync = off
full_page_writes = off
shared_buffers = 64MB
max_connections = 100
timezone = 'UTC'
log_min_messages = warning
CONF
		echo "host replication all 127.0.0.1/32 scram-sha-256" >>"$dir/data/pg_hba.conf"
		cat >"$dir/server.env.tmp" <<ENV
PG_PORT=$port
PG_USER=pipeline
PG_PASSWORD=$password
PG_SOCKET=$dir
PG_DSN=postgres://pipeline:$password@127.0.0.1:$port/app?sslmode=disable
ENV
		mv "$dir/server.env.tmp" "$dir/server.env"
		as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null ||
			{ tail -n 30 "$dir/server.log" >&2; die "the server did not start (log: $dir/server.log)"; }
		as_owner "$bin/psql" -h "$dir" -p "$port" -U pipeline -d postgres -qAt -c "CREATE DATABASE app" >/dev/null
	else
		# shellcheck disable=SC1091
		source "$dir/server.env"
		as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null ||
			{ tail -n 30 "$dir/server.log" >&2; die "the server did not start again (log: $dir/server.log)"; }
	fi
	# shellcheck disable=SC1091
	source "$dir/server.env"
	local pid
	pid="$(head -n 1 "$dir/data/postmaster.pid")"
	if [[ -n "${PG_OWNER_PID:-}" ]]; then
		setsid bash -c '
			while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done
			kill -0 "$1" 2>/dev/null && exit 0
			"$3" stop "$4"
			[[ "$5" == 1 ]] && rm -rf "$4"
			exit 0' watchdog "$PG_OWNER_PID" "$pid" "$HERE/postgres.sh" "$dir" \
			"${PG_OWNER_REMOVE_DIR:-0}" </dev/null >/dev/null 2>&1 &
	fi
	echo "$PG_DSN"
}

stop() {
	[[ $# -ge 1 ]] || die "usage: postgres.sh stop DIR"
	local dir="$1" bin
	[[ -f "$dir/data/postmaster.pid" ]] || return 0
	bin="$(bindir)" || return 0
	as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}

crash() {
	[[ $# -ge 1 ]] || die "usage: postgres.sh kill DIR"
	local dir="$1" pid
	[[ -f "$dir/data/postmaster.pid" ]] || return 0
	pid="$(head -n 1 "$dir/data/postmaster.pid")"
	kill -KILL "$pid" 2>/dev/null || true
	while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
	# The backends notice their postmaster is gone and exit; wait for the port.
	local deadline=$((SECONDS + 20))
	while pgrep -u postgres -f -- "-D $dir/data" >/dev/null 2>&1 && ((SECONDS < deadline)); do sleep 0.1; done
}

cmd="${1:-}"
shift || true
case "$cmd" in
deps) deps ;;
start) start "$@" ;;
stop) stop "$@" ;;
kill) crash "$@" ;;
*) die "usage: postgres.sh deps | start DIR [PORT] | stop DIR | kill DIR" ;;
esac
