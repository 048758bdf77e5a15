#!/usr/bin/env bash
# Builds the Dapr runtime (daprd, placement, scheduler) from github.com/dapr/dapr at the pinned
# release into $DAPR_BIN_DIR (default: <repo>/.dapr/bin). Reuses binaries already there at the
# pinned version, or a user's own daprd (~/.dapr/bin, PATH) of that version. Unattended; Go's
# module and build caches (GOMODCACHE, GOCACHE: outside the repo) make a rebuild fast.
set -euo pipefail

DAPR_VERSION=1.18.2
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin_dir=${DAPR_BIN_DIR:-$repo/.dapr/bin}
binaries=(daprd placement scheduler)

say() { printf 'dapr-build: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

version_of() { # the version daprd reports, or nothing
  "$1" --version 2>/dev/null | head -n1 | tr -d '[:space:]v' || true
}

have_all() { # daprd reports the pinned version; placement and scheduler (no --version flag)
  local dir=$1 b  # are trusted when they sit beside it
  [ -x "$dir/daprd" ] && [ "$(version_of "$dir/daprd")" = "$DAPR_VERSION" ] || return 1
  for b in "${binaries[@]}"; do [ -x "$dir/$b" ] || return 1; done
}

linked_here() { # our own build links components.txt as it is now (an official daprd, linked
  # in from a user's runtime, has every component)
  [ -L "$bin_dir/daprd" ] || cmp -s "$here/components.txt" "$bin_dir/components.txt"
}

adopt_user_runtime() { # link a user's own runtime of the pinned version, if complete
  local dir b
  for dir in "$HOME/.dapr/bin" $(dirname "$(command -v daprd 2>/dev/null || echo /nonexistent/x)"); do
    have_all "$dir" || continue
    mkdir -p "$bin_dir"
    for b in "${binaries[@]}"; do ln -sf "$dir/$b" "$bin_dir/$b"; done
    say "using the Dapr $DAPR_VERSION runtime found in $dir"
    return 0
  done
  return 1
}

# One build at a time: stacks started in parallel (tests, benchmarks) all call this script, and
# a second build would delete the first one's work dir. The waiters then find it built.
mkdir -p "$bin_dir"
if command -v flock >/dev/null; then  # util-linux; macOS has none (and rarely parallel starts)
  exec 9>"$bin_dir/.build.lock"
  flock 9
fi
if have_all "$bin_dir" && linked_here; then
  say "Dapr $DAPR_VERSION runtime present in $bin_dir"
  exit 0
fi
adopt_user_runtime && exit 0

command -v go >/dev/null || die "Go is not installed: install Go >= 1.26 (https://go.dev/doc/install) to build the Dapr runtime."

cd "$here"
# The proxy serves no checksum-database answers for some of dapr's dependencies; go.sum here is
# dapr's own, so every module is still verified against the hashes dapr's release recorded.
export CGO_ENABLED=0 GONOSUMDB=* GOFLAGS=-mod=readonly

say "downloading github.com/dapr/dapr v$DAPR_VERSION (cold: a few minutes)"
go mod download github.com/dapr/dapr
mod_dir=$(go list -m -f '{{.Dir}}' github.com/dapr/dapr)
commit=$(sed -n 's/.*"Hash":"\([0-9a-f]*\)".*/\1/p' "$(go env GOMODCACHE)/cache/download/github.com/dapr/dapr/@v/v$DAPR_VERSION.info")

# Go refuses overlays of files in the module cache, so the build runs in a work dir outside
# the repo: a copy of dapr's module without the component registrations that components.txt
# does not list, and this wrapper's go.mod pointing at that copy.
work=${AGENT_ACTORS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agent-actors}/dapr-build-$DAPR_VERSION
rm -rf "$work" && mkdir -p "$work"
cp -r "$mod_dir" "$work/dapr" && chmod -R u+w "$work/dapr"
keep=$(grep -v '^\s*#' components.txt | sed '/^\s*$/d')
for f in "$work"/dapr/cmd/daprd/components/*.go; do
  grep -qx "$(basename "$f" .go)" <<<"$keep" || rm -f "$f"
done
cp go.mod go.sum "$work/"
printf '\nreplace github.com/dapr/dapr => ./dapr\n' >>"$work/go.mod"
cd "$work"

pkg=github.com/dapr/dapr/pkg/buildinfo
ldflags="-s -w -X $pkg.version=$DAPR_VERSION -X $pkg.gitversion=v$DAPR_VERSION -X $pkg.gitcommit=$commit"
mkdir -p "$bin_dir"
for b in "${binaries[@]}"; do
  say "building $b (go build; cold: several minutes)"
  start=$(date +%s)
  # go build is silent for minutes on a cold cache: show it is alive.
  ( while sleep 30; do say "still building $b ($(( $(date +%s) - start ))s)"; done ) &
  heartbeat=$!
  if ! go build -trimpath -tags allcomponents -ldflags "$ldflags" \
    -o "$bin_dir/$b.tmp" "github.com/dapr/dapr/cmd/$b"; then
    kill "$heartbeat" 2>/dev/null
    die "building $b failed (see the Go errors above); nothing was installed."
  fi
  kill "$heartbeat" 2>/dev/null
  mv "$bin_dir/$b.tmp" "$bin_dir/$b"
  say "built $b in $(( $(date +%s) - start ))s"
done
have_all "$bin_dir" || die "the built binaries do not report version $DAPR_VERSION."
cp "$here/components.txt" "$bin_dir/components.txt"
say "Dapr $DAPR_VERSION runtime ready in $bin_dir"
