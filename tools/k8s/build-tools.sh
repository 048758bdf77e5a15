#!/usr/bin/env bash
# Builds Tilt from github.com/tilt-dev/tilt at a pinned release into the agent-actors tool cache
# (outside the repo) and prints the binary's path on stdout. The deploy tests use it to have
# Tilt itself evaluate ./Tiltfile (`tilt alpha tiltfile-result`), which needs no cluster.
# Reuses a binary already there (or a `tilt` on PATH) at the pinned version. Unattended; Go's
# module and build caches make a rebuild fast.
#
#   tools/k8s/build-tools.sh            # -> .../agent-actors/bin/tilt
#   TILT=/path/to/tilt make test        # the tests use that binary instead (any version)
set -euo pipefail

TILT_VERSION=0.34.0
here=$(cd "$(dirname "$0")" && pwd)
cache=${AGENT_ACTORS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agent-actors}
bin_dir=$cache/bin

say() { printf 'k8s-tools: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

version_of() { # "0.34.0" from "v0.34.0, built 2025-03-11", or nothing
  "$1" version 2>/dev/null | head -n1 | sed -n 's/^v\{0,1\}\([0-9][0-9.]*\).*/\1/p' || true
}

if [ -x "$bin_dir/tilt" ] && [ "$(version_of "$bin_dir/tilt")" = "$TILT_VERSION" ]; then
  echo "$bin_dir/tilt"
  exit 0
fi
if on_path=$(command -v tilt 2>/dev/null) && [ "$(version_of "$on_path")" = "$TILT_VERSION" ]; then
  echo "$on_path"
  exit 0
fi

command -v go >/dev/null || die "Go is not installed: install Go >= 1.26 to build Tilt."
command -v gcc >/dev/null || command -v cc >/dev/null ||
  die "a C compiler is needed: Tilt's Tiltfile language server uses tree-sitter (cgo)."

cd "$here/tilt"
# go.sum here is Tilt's own plus Tilt's module hash, so every module is verified against the
# hashes Tilt's release recorded; the proxy serves no checksum-database answers for Tilt.
export GONOSUMDB=* GOFLAGS=-mod=readonly CGO_ENABLED=1

mkdir -p "$bin_dir"
say "building tilt v$TILT_VERSION from github.com/tilt-dev/tilt (cold: several minutes)"
start=$(date +%s)
go build -trimpath \
  -ldflags "-s -w -X main.version=$TILT_VERSION -X main.date=2025-03-11" \
  -o "$bin_dir/tilt.tmp" github.com/tilt-dev/tilt/cmd/tilt ||
  die "building tilt failed (see the Go errors above); nothing was installed."
mv "$bin_dir/tilt.tmp" "$bin_dir/tilt"
say "built tilt in $(( $(date +%s) - start ))s"
[ "$(version_of "$bin_dir/tilt")" = "$TILT_VERSION" ] ||
  die "the built tilt does not report version $TILT_VERSION."
echo "$bin_dir/tilt"
