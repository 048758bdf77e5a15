#!/usr/bin/env bash
# Builds Jaeger (one binary: OTLP receiver, in-memory storage, query API and UI) from
# github.com/jaegertracing/jaeger at a pinned release into the agent-actors tool cache (outside
# the repo) and prints the binary's path on stdout. `make run TRACING=1` and the tracing test
# run it as the trace backend. Reuses a binary already there at the pinned version.
# Unattended; Go's module and build caches make a rebuild fast.
#
#   tools/jaeger/build.sh               # -> .../agent-actors/bin/jaeger
#   JAEGER=/path/to/jaeger make test    # the tests use that binary instead
set -euo pipefail

JAEGER_VERSION=1.76.0
here=$(cd "$(dirname "$0")" && pwd)
cache=${AGENT_ACTORS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agent-actors}
bin_dir=$cache/bin

say() { printf 'jaeger-build: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

have() { # the binary reports the pinned version ({"gitVersion": "v1.76.0", ...})
  [ -x "$1" ] && "$1" version 2>/dev/null | grep -q "\"gitVersion\": *\"v$JAEGER_VERSION\""
}

if [ -n "${JAEGER:-}" ]; then
  [ -x "$JAEGER" ] || die "JAEGER=$JAEGER is not an executable."
  echo "$JAEGER"
  exit 0
fi
mkdir -p "$bin_dir"
# One build at a time: stacks and tests started in parallel all call this script.
if command -v flock >/dev/null; then
  exec 9>"$bin_dir/.jaeger-build.lock"
  flock 9
fi
if have "$bin_dir/jaeger"; then
  echo "$bin_dir/jaeger"
  exit 0
fi

command -v go >/dev/null || die "Go is not installed: install Go >= 1.26 to build Jaeger."

cd "$here"
# The proxy serves no checksum-database answers for some modules: go.sum here is Jaeger's own
# (plus Jaeger's module hash), so every module is still verified against the hashes Jaeger's
# release recorded.
export CGO_ENABLED=0 GONOSUMDB=* GOFLAGS=-mod=readonly

say "building jaeger v$JAEGER_VERSION from github.com/jaegertracing/jaeger (cold: several minutes)"
start=$(date +%s)
( while sleep 30; do say "still building jaeger ($(( $(date +%s) - start ))s)"; done ) &
heartbeat=$!
trap 'kill $heartbeat 2>/dev/null || true' EXIT
pkg=github.com/jaegertracing/jaeger/internal/version
go build -trimpath -ldflags "-s -w -X $pkg.latestVersion=v$JAEGER_VERSION" \
  -o "$bin_dir/jaeger.tmp" github.com/jaegertracing/jaeger/cmd/jaeger ||
  die "building jaeger failed (see the Go errors above); nothing was installed."
mv "$bin_dir/jaeger.tmp" "$bin_dir/jaeger"
say "built jaeger in $(( $(date +%s) - start ))s"
have "$bin_dir/jaeger" || die "the built jaeger does not report version v$JAEGER_VERSION."
echo "$bin_dir/jaeger"
