#!/usr/bin/env bash
# Builds kind (sigs.k8s.io/kind, pinned) from the Go module proxy into the agent-actors tool
# cache (outside the repo) and prints the binary's path on stdout. `make e2e-k8s` uses it.
# kind's go.mod has no replace directives, so `go install module@version` builds it as
# released (modules verified against the checksum database). Reuses a binary already there
# (or a `kind` on PATH) at the pinned version.
#
#   tools/kind/build.sh            # -> .../agent-actors/bin/kind
set -euo pipefail

KIND_VERSION=0.33.0
cache=${AGENT_ACTORS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agent-actors}
bin_dir=$cache/bin

say() { printf 'kind-build: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

version_of() { # "0.33.0" from "kind v0.33.0 go1.26.8 linux/amd64", or nothing
  "$1" version 2>/dev/null | sed -n 's/^kind v\([0-9][0-9.]*\).*/\1/p' || true
}

for candidate in "$bin_dir/kind" "$(command -v kind 2>/dev/null || true)"; do
  if [ -n "$candidate" ] && [ -x "$candidate" ] && [ "$(version_of "$candidate")" = "$KIND_VERSION" ]; then
    echo "$candidate"
    exit 0
  fi
done

command -v go >/dev/null || die "Go is not installed: install Go >= 1.26 to build kind."
mkdir -p "$bin_dir"
say "building kind v$KIND_VERSION from sigs.k8s.io/kind (cold: about a minute)"
start=$(date +%s)
# nice/ionice: a build must not take the CPU from a stack running beside it.
nice -n 19 ionice -c3 env CGO_ENABLED=0 GOBIN="$bin_dir" \
  go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kind@v$KIND_VERSION" ||
  die "building kind failed (see the Go errors above)."
say "built kind in $(( $(date +%s) - start ))s"
[ "$(version_of "$bin_dir/kind")" = "$KIND_VERSION" ] ||
  die "the built kind does not report version $KIND_VERSION."
echo "$bin_dir/kind"
