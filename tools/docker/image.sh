#!/usr/bin/env bash
# `make image`: builds ./Dockerfile with Docker into the image the Deployment names
# (`agent-actors`, or $IMAGE). Installs docker.io when missing and starts dockerd when no daemon
# answers (left running: `bash tools/docker/engine.sh stop <pid>` stops it); the base images
# come from tools/docker/base-images.sh (public, or local stand-ins where no registry answers).
# Docker's layer cache and BuildKit's cache mount for uv make a second build take seconds.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
image=${IMAGE:-agent-actors}

say() { printf 'image: %s\n' "$*" >&2; }

bash "$here/engine.sh" install
started=$(bash "$here/engine.sh" start)
case $started in
  started\ *) say "dockerd started (pid ${started#started }), left running: bash tools/docker/engine.sh stop ${started#started } stops it" ;;
esac
docker=$(bash "$here/engine.sh" cli)
args=$(bash "$here/base-images.sh")
build_args=()
for arg in $args; do build_args+=(--build-arg "$arg"); done
say "building $image (${args//$'\n'/, })"
start=$SECONDS
DOCKER_BUILDKIT=1 "$docker" build --progress="${PROGRESS:-auto}" "${build_args[@]}" -t "$image" "$repo"
say "$image built in $((SECONDS - start)) s"
