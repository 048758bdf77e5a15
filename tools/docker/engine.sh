#!/usr/bin/env bash
# The Docker engine that `make image` and tests/integration/test_image.py need, on a machine
# that may have none: Debian's docker.io (and debootstrap, for the local base image) installed
# with apt-get when missing (as root), dockerd started without systemd when no daemon answers,
# and stopped again by its pid by whoever started it.
#
#   tools/docker/engine.sh install      # docker.io + debootstrap, when missing
#   tools/docker/engine.sh cli          # the docker CLI to use (one whose `build` has BuildKit)
#   tools/docker/engine.sh start        # "running" (a daemon answers: not ours to stop)
#                                       # or "started <pid>" (dockerd started now, in the background)
#   tools/docker/engine.sh stop <pid>   # stop the dockerd `start` reported (that pid only)
#
# dockerd's log and pidfile: $AGENT_ACTORS_CACHE/docker (default ~/.cache/agent-actors/docker).
# Its data (images, layer and build caches) stays in /var/lib/docker between runs: that is what
# makes a second `make image` fast.
set -euo pipefail

cache=${AGENT_ACTORS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agent-actors}
state=$cache/docker
ready_timeout=${AGENT_ACTORS_DOCKERD_TIMEOUT:-60}

say() { printf 'docker-engine: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# A CLI whose `docker build` runs BuildKit (the Dockerfile uses RUN --mount): a modern CLI with
# the buildx plugin, or Debian's docker.io CLI (20.10, BuildKit built in). A modern CLI without
# buildx (as /usr/local/bin/docker may be) would refuse DOCKER_BUILDKIT=1.
cli() {
  if command -v docker >/dev/null && docker buildx version >/dev/null 2>&1; then
    command -v docker
  elif [ -x /usr/bin/docker ]; then
    echo /usr/bin/docker
  elif command -v docker >/dev/null; then
    command -v docker
  else
    return 1
  fi
}

install() { # only what is missing: an engine installed otherwise (docker-ce, ...) stays as it is
  local packages=()
  if ! { command -v dockerd >/dev/null || [ -x /usr/sbin/dockerd ]; } || ! cli >/dev/null; then
    packages+=(docker.io)
    # Without docker.io's recommends (needrestart, criu, git, ...): dockerd needs none of them,
    # except AppArmor's parser where the kernel enforces AppArmor.
    if [ "$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)" = Y ]; then
      packages+=(apparmor)
    fi
  fi
  command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || packages+=(debootstrap)
  [ ${#packages[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    die "${packages[*]} missing: install them with \`sudo apt-get install -y ${packages[*]}\` (or your OS's Docker engine)."
  fi
  say "installing Debian's ${packages[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  local apt=(apt-get install -y -qq --no-install-recommends "${packages[@]}")
  # The lists may be missing or stale on a fresh machine: update only when the install fails.
  "${apt[@]}" >/dev/null 2>&1 || { apt-get update -qq && "${apt[@]}" >/dev/null; } \
    || die "apt-get could not install ${packages[*]}."
}

answers() { # a daemon answers on the default socket (or $DOCKER_HOST)
  timeout 15 "$1" info >/dev/null 2>&1
}

is_dockerd() { [ -r "/proc/$1/comm" ] && [ "$(cat "/proc/$1/comm")" = dockerd ]; }

alive() { # running, not a zombie waiting for its parent
  [ -r "/proc/$1/stat" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]
}

start() {
  local docker driver pid waited
  docker=$(cli) || die "no docker CLI: run \`$0 install\` first."
  if answers "$docker"; then
    echo running
    return 0
  fi
  command -v dockerd >/dev/null || PATH=$PATH:/usr/sbin
  command -v dockerd >/dev/null || die "dockerd is not installed: run \`$0 install\` (as root)."
  [ "$(id -u)" = 0 ] || die "no Docker daemon answers and starting dockerd needs root."
  mkdir -p "$state"
  : >"$state/dockerd.log"
  # overlay2 first; some kernels and filesystems refuse it, then vfs (slower, always works).
  for driver in overlay2 vfs; do
    rm -f "$state/dockerd.pid"
    say "starting dockerd (storage driver $driver; log: $state/dockerd.log)"
    # Its own session: a Ctrl-C meant for the caller does not reach it; the caller stops it.
    # shellcheck disable=SC2086  # AGENT_ACTORS_DOCKERD_ARGS: extra flags (tools/kind/e2e.sh)
    setsid dockerd --storage-driver="$driver" --exec-opt native.cgroupdriver=cgroupfs \
      ${AGENT_ACTORS_DOCKERD_ARGS:-} --pidfile "$state/dockerd.pid" >>"$state/dockerd.log" 2>&1 </dev/null &
    local launched=$!
    waited=0
    while [ "$waited" -lt "$ready_timeout" ]; do
      if answers "$docker"; then
        pid=$(cat "$state/dockerd.pid" 2>/dev/null || echo "$launched")
        echo "started $pid"
        return 0
      fi
      alive "$launched" || break
      sleep 1
      waited=$((waited + 1))
    done
    say "dockerd with $driver did not come up; its log ends with:"
    tail -n 5 "$state/dockerd.log" >&2 || true
    # Ours, whatever /proc says its name is yet (setsid becomes dockerd when it execs).
    if alive "$launched"; then stop_pid "$launched" ours; fi
  done
  die "dockerd did not start (see $state/dockerd.log)."
}

stop_pid() {
  local pid=$1 ours=${2:-} waited=0
  alive "$pid" && { [ -n "$ours" ] || is_dockerd "$pid"; } \
    || { say "pid $pid is not a running dockerd: nothing to stop"; return 0; }
  kill -TERM "$pid"
  # dockerd stops its containers and its containerd before it exits.
  while [ "$waited" -lt 60 ] && alive "$pid"; do
    sleep 0.5
    waited=$((waited + 1))
  done
  if alive "$pid"; then
    say "dockerd (pid $pid) still runs after 30 s: killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  say "dockerd (pid $pid) stopped"
}

case ${1:-} in
  install) install ;;
  cli) cli || die "no docker CLI: run \`$0 install\` first." ;;
  start) start ;;
  stop) [ -n "${2:-}" ] || die "usage: $0 stop <pid>"; stop_pid "$2" ;;
  *) die "usage: $0 install | cli | start | stop <pid>" ;;
esac
