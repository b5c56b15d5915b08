#!/usr/bin/env bash
# A private MariaDB server for the e2e suite, from Debian's packages, on a
# loopback port and a data directory of its own. It never touches a system
# service or the system's data directory.
#
#   mariadb.sh deps            install MariaDB (Debian's mariadb-server) if missing
#   mariadb.sh start DIR PORT  mariadb-install-db into DIR/data (first time), start the
#                              server on 127.0.0.1:PORT (socket DIR/mysqld.sock), wait
#                              until it accepts connections; print the DSN as the last line
#   mariadb.sh start DIR       start the server of an initialized DIR again (same port)
#   mariadb.sh stop DIR        stop it (SIGTERM: a clean shutdown) and wait until it has exited
#   mariadb.sh kill DIR        SIGKILL it: a crash
#
# Users: root@127.0.0.1 without a password (the example's default DSN form
# root@tcp(127.0.0.1:PORT)/app), and "pipeline" with a random password.
# DIR/server.env holds MY_PORT, MY_SOCKET, MY_USER, MY_PASSWORD and MY_DSN (the Go
# driver's DSN of user pipeline to database app). The binlog is on (ROW, FULL
# row images and row metadata, server_id 1) so that CDC tests can use the server too; durability
# is relaxed: its data is throwaway.
#
# Run as root, the server runs as the user "mysql" (the package's). With
# MY_OWNER_PID set, start leaves a watchdog that stops the server (and with
# MY_OWNER_REMOVE_DIR=1 removes DIR) once that process has exited.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/pipeline-e2e"
START_TIMEOUT="${MY_START_TIMEOUT:-60}"
die() { echo "mariadb.sh: $*" >&2; exit 1; }

have() { command -v mariadbd >/dev/null || [[ -x /usr/sbin/mariadbd ]]; }
mariadbd_bin() { command -v mariadbd || echo /usr/sbin/mariadbd; }

deps() {
	if have && command -v mariadb >/dev/null && command -v mariadb-install-db >/dev/null; then return 0; fi
	mkdir -p "$CACHE"
	(
		flock 9
		have && command -v mariadb >/dev/null && exit 0
		[[ $(id -u) == 0 ]] || die "MariaDB is not installed, and installing it needs root"
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server mariadb-client) >&2 ||
			die "MariaDB not found and could not be installed"
	) 9>"$CACHE/.apt.lock"
}

# envget DIR KEY: a value of DIR/server.env (read, not sourced: a DSN has parentheses).
envget() { sed -n "s/^$2=//p" "$1/server.env"; }

owner() { if [[ $(id -u) == 0 ]]; then echo mysql; else id -un; fi; }

secret() { head -c 18 /dev/urandom | base64 | tr '+/' 'xy' | tr -d '='; }

client() {
	local dir="$1"
	shift
	mariadb --no-defaults --protocol=socket -S "$dir/mysqld.sock" -u root "$@"
}

launch() {
	local dir="$1" port="$2" pid
	setsid "$(mariadbd_bin)" --no-defaults --user="$(owner)" --datadir="$dir/data" \
		--port="$port" --bind-address=127.0.0.1 --socket="$dir/mysqld.sock" \
		--pid-file="$dir/mysqld.pid" --log-error="$dir/server.log" --skip-name-resolve \
		--log-bin="$dir/data/binlog" --binlog-format=ROW --binlog-row-image=FULL --binlog-row-metadata=FULL --server-id=1 \
		--innodb-buffer-pool-size=64M --innodb-log-file-size=16M --innodb-flush-log-at-trx-commit=2 \
		--sync-binlog=0 --innodb-doublewrite=0 --default-time-zone=+00:00 \
		--character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
		</dev/null >>"$dir/server.log" 2>&1 &
	pid=$!
	local deadline=$((SECONDS + START_TIMEOUT))
	until client "$dir" -e "SELECT 1" >/dev/null 2>&1; do
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 30 "$dir/server.log" >&2
			die "the server exited during startup (log: $dir/server.log)"
		fi
		((SECONDS < deadline)) || { tail -n 30 "$dir/server.log" >&2; kill -KILL "$pid"; die "no answer within ${START_TIMEOUT}s"; }
		sleep 0.1
	done
	echo "$pid" >"$dir/server.pid"
}

start() {
	[[ $# -ge 1 ]] || die "usage: mariadb.sh start DIR [PORT]"
	local dir="$1"
	have || die "MariaDB is not installed (run mariadb.sh deps)"
	if [[ ! -f "$dir/server.env" ]]; then
		[[ $# -ge 2 ]] || die "usage: mariadb.sh start DIR PORT"
		local port="$2" password
		password="pw-$(secret)"
		mkdir -p "$dir/data"
		chmod 755 "$dir"
		[[ $(id -u) == 0 ]] && chown mysql "$dir" "$dir/data"
		mariadb-install-db --no-defaults --user="$(owner)" --datadir="$dir/data" \
			--auth-root-authentication-method=normal --skip-test-db \
			>"$dir/install.log" 2>&1 || { cat "$dir/install.log" >&2; die "mariadb-install-db failed"; }
		launch "$dir" "$port"
		client "$dir" <<SQL
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
CREATE USER 'pipeline'@'127.0.0.1' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON *.* TO 'pipeline'@'127.0.0.1';
CREATE DATABASE app;
SQL
		cat >"$dir/server.env.tmp" <<ENV
MY_PORT=$port
MY_SOCKET=$dir/mysqld.sock
MY_USER=pipeline
MY_PASSWORD=$password
MY_DSN=pipeline:$password@tcp(127.0.0.1:$port)/app
ENV
		mv "$dir/server.env.tmp" "$dir/server.env"
	else
		launch "$dir" "$(envget "$dir" MY_PORT)"
	fi
	if [[ -n "${MY_OWNER_PID:-}" ]]; then
		setsid bash -c '
			while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done
			kill -0 "$1" 2>/dev/null && exit 0
			"$3" stop "$4"
			[[ "$5" == 1 ]] && rm -rf "$4"
			exit 0' watchdog "$MY_OWNER_PID" "$(cat "$dir/server.pid")" "$HERE/mariadb.sh" "$dir" \
			"${MY_OWNER_REMOVE_DIR:-0}" </dev/null >/dev/null 2>&1 &
	fi
	envget "$dir" MY_DSN
}

signal_and_wait() {
	local dir="$1" sig="$2" pid
	[[ -f "$dir/server.pid" ]] || return 0
	pid="$(cat "$dir/server.pid")"
	kill "-$sig" "$pid" 2>/dev/null || true
	local deadline=$((SECONDS + 60))
	while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.05; done
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
	rm -f "$dir/server.pid"
}

cmd="${1:-}"
shift || true
case "$cmd" in
deps) deps ;;
start) start "$@" ;;
stop) signal_and_wait "$1" TERM ;;
kill) signal_and_wait "$1" KILL ;;
*) die "usage: mariadb.sh deps | start DIR [PORT] | stop DIR | kill DIR" ;;
esac
