#!/bin/sh
# Installs the pinned yaml-language-server (the language server VS Code's YAML
# extension runs) into the e2e cache, once, and prints the path of its binary:
#
#   $ e2e/setup/yaml-language-server.sh
#   /home/me/.cache/pipeline-e2e/npm/node_modules/.bin/yaml-language-server
#
# 1.25.0 is the newest release that runs on Node 20 (2.x needs Node >= 22.13).
# Progress and errors go to stderr; stdout carries only the path.
set -eu

VERSION=1.25.0
DIR="${XDG_CACHE_HOME:-$HOME/.cache}/pipeline-e2e/npm"
BIN="$DIR/node_modules/.bin/yaml-language-server"
PKG="$DIR/node_modules/yaml-language-server/package.json"

if [ -x "$BIN" ] && [ -f "$PKG" ] && grep -q "\"version\": \"$VERSION\"" "$PKG"; then
	echo "$BIN"
	exit 0
fi

command -v node >/dev/null 2>&1 || { echo "yaml-language-server.sh: node is not installed" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "yaml-language-server.sh: npm is not installed" >&2; exit 1; }

mkdir -p "$DIR"
echo "yaml-language-server.sh: installing yaml-language-server@$VERSION into $DIR" >&2
# Few, short retries: an unreachable registry fails in seconds, not minutes.
npm install --prefix "$DIR" --no-audit --no-fund --no-save --loglevel=error \
	--fetch-retries=1 --fetch-retry-mintimeout=2000 --fetch-retry-maxtimeout=5000 \
	"yaml-language-server@$VERSION" >&2
[ -x "$BIN" ] || { echo "yaml-language-server.sh: $BIN missing after npm install" >&2; exit 1; }
echo "$BIN"
