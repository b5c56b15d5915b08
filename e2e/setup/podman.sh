#!/bin/sh
# Installs podman and runc from Debian when missing (once, under a lock, for
# the container tests) and prints podman's path. The default OCI runtime
# (crun) fails on these machines' rlimits and hybrid cgroups; the tests run
# containers with runc and cgroupfs (see e2e/container_test.go).
# Progress and errors go to stderr; stdout carries only the path.
set -eu

CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/pipeline-e2e"
mkdir -p "$CACHE"
(
	flock 9
	if ! command -v podman >/dev/null 2>&1 || ! command -v runc >/dev/null 2>&1; then
		echo "podman.sh: installing podman and runc" >&2
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc) >&2 ||
			{ echo "podman.sh: podman could not be installed" >&2; exit 1; }
	fi
) 9>"$CACHE/.apt.lock"
command -v podman
