#!/usr/bin/env bash
# `make e2e-k8s`: the deploy on a real single-node kind cluster, with no registry.
#   1. kind (tools/kind/build.sh) and a node image made here (tools/kind/node-image.sh);
#   2. `kind create cluster` (one node, the bridge CNI, failCgroupV1: false where the host has
#      cgroup v1 only);
#   3. Dapr 1.18.2 from the chart inside the Dapr module (charts/dapr) with Helm, its images
#      built from the runtime this project builds (tools/kind/bits.sh) and `kind load`ed;
#   4. `tilt ci` brings the app up; a chat turn through the port-forward; `kubectl delete pod`
#      and the conversation is still there.
# Starts dockerd when none runs and stops it at the end (by pid), deletes the cluster unless
# KEEP=1. Not part of `make test`.
set -euo pipefail

CLUSTER=${CLUSTER:-agent-actors-e2e}
DAPR_VERSION=1.18.2
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${AGENT_ACTORS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agent-actors}
say() { printf 'e2e-k8s: %s [%ss]\n' "$*" "$SECONDS" >&2; }
die() { say "$*"; exit 1; }
N=(nice -n 19 ionice -c3)

docker=$(bash "$repo/tools/docker/engine.sh" cli)
bash "$repo/tools/docker/engine.sh" install
# kind's nodes are --privileged containers: where root lacks a capability (here
# CAP_SYS_RESOURCE), runc refuses them ("unable to apply caps"), so dockerd runs them with
# tools/kind/runc-capfix, runc minus the capabilities the host does not have.
export AGENT_ACTORS_DOCKERD_ARGS="--add-runtime capfix=$here/runc-capfix --default-runtime capfix"
started=$(bash "$repo/tools/docker/engine.sh" start)
if [ "$started" = running ] && [ "$(awk '/^CapBnd/ {print $2}' /proc/self/status)" != 000001ffffffffff ] &&
  ! "$docker" info --format '{{json .Runtimes}}' | grep -q capfix; then
  die "a dockerd without the capfix runtime runs, and this host's root lacks capabilities that kind's privileged nodes ask for: stop it, or start it with $AGENT_ACTORS_DOCKERD_ARGS"
fi
cleanup() {
  local rc=$?
  [ "${KEEP:-}" = 1 ] || "$kind" delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
  case $started in started\ *) bash "$repo/tools/docker/engine.sh" stop "${started#started }" ;; esac
  exit $rc
}
kind=$(bash "$here/build.sh")
trap cleanup EXIT
bits=$(bash "$here/bits.sh")
node_image=$(bash "$here/node-image.sh" "$docker")
tilt=$(bash "$repo/tools/k8s/build-tools.sh")
export PATH=$bits/bin:$(dirname "$kind"):$PATH   # kubectl, helm, and kind for Tilt's image load
export KUBECONFIG=$cache/kind-$CLUSTER.kubeconfig

say "creating the cluster $CLUSTER ($node_image)"
config=$(mktemp)
cat >"$config" <<EOF
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
networking:
  disableDefaultCNI: true
nodes:
- role: control-plane
  image: $node_image
kubeadmConfigPatches:
- |
  kind: KubeletConfiguration
  failCgroupV1: false
EOF
"$kind" delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
"${N[@]}" "$kind" create cluster --name "$CLUSTER" --config "$config" --retain --wait 5m \
  >"$cache/kind-create.log" 2>&1 ||
  { grep -v round_trippers "$cache/kind-create.log" | tail -n 25 >&2
    "$kind" export logs --name "$CLUSTER" "$cache/kind-logs" >/dev/null 2>&1 || true
    die "kind create cluster failed (node logs: $cache/kind-logs)"; }
rm -f "$config"
say "cluster ready"

say "building Dapr's images and loading them into the node"
ctx=$(mktemp -d)
for b in daprd placement scheduler operator sentry injector; do
  rm -rf "$ctx"/* && cp "$bits/bin/$b" "$ctx/"
  [ "$b" != daprd ] || cp "$bits/bin/daprd-k8s" "$ctx/daprd"  # + the kubernetes components
  printf 'FROM scratch\nCOPY %s /%s\nUSER 65532:65532\nENTRYPOINT ["/%s"]\n' "$b" "$b" "$b" >"$ctx/Dockerfile"
  "$docker" build -q -t "agent-actors-local/dapr/$b:$DAPR_VERSION" "$ctx" >/dev/null
  "$kind" load docker-image --name "$CLUSTER" "agent-actors-local/dapr/$b:$DAPR_VERSION" >/dev/null 2>&1
done
rm -rf "$ctx"
chart=$(cd "$repo/tools/dapr" && go list -m -f '{{.Dir}}' github.com/dapr/dapr)/charts/dapr
"${N[@]}" helm upgrade --install dapr "$chart" --namespace dapr-system --create-namespace \
  --set global.registry=agent-actors-local/dapr --set global.tag=$DAPR_VERSION \
  --set global.imagePullPolicy=Never --wait --timeout 10m || die "helm install of Dapr failed"
say "Dapr is up"

# k8s/redis.yaml's image, from Docker Hub where it answers; else a stand-in of the same name:
# Debian's redis-server (7.0) from the image test's stack image (tools/docker/base-images.sh).
redis_image=$(sed -n 's/^ *image: \(redis:.*\)$/\1/p' "$repo/k8s/redis.yaml")
if ! "$docker" image inspect "$redis_image" >/dev/null 2>&1 && ! "$docker" pull -q "$redis_image" >/dev/null 2>&1; then
  stack=$(bash "$repo/tools/docker/base-images.sh" stack 2>/dev/null || echo agent-actors-local/stack:bookworm)
  printf 'FROM %s\nWORKDIR /data\nENTRYPOINT ["redis-server"]\n' "$stack" |
    "$docker" build -q -t "$redis_image" - >/dev/null || die "no $redis_image, and no stand-in"
fi
"$kind" load docker-image --name "$CLUSTER" "$redis_image" >/dev/null 2>&1

# The Tiltfile builds ./Dockerfile with its default base images (the public ones). Where no
# registry answers, Part 1's local stand-ins go under those names in Docker's store, so
# BuildKit finds them locally and never asks a registry.
for arg in $(bash "$repo/tools/docker/base-images.sh"); do  # PYTHON_IMAGE=<image> UV_IMAGE=<image>
  public=$(sed -n "s/^ARG ${arg%%=*}=//p" "$repo/Dockerfile")
  [ "$public" = "${arg#*=}" ] || "$docker" tag "${arg#*=}" "$public"
done

say "tilt ci"
# Tilt built from its Go module has no embedded web UI: in "local" web mode it looks for its
# web/ sources relative to the working directory (the binary is -trimpath'd, so the module
# cache is where they are) and runs `yarn` for a dev server, which `tilt ci` never serves
# (--port 0): a stub yarn stands in.
stub=$(mktemp -d)
printf '#!/bin/sh\ncase "$*" in *install*) exit 0 ;; esac\nexec sleep infinity\n' >"$stub/yarn"
chmod +x "$stub/yarn"
(cd "$(go env GOMODCACHE)" && PATH=$stub:$PATH "${N[@]}" "$tilt" ci --web-mode local --port 0 \
  --timeout 15m --file "$repo/Tiltfile" >"$cache/tilt-ci.log" 2>&1) ||
  { tail -n 30 "$cache/tilt-ci.log" >&2; die "tilt ci failed (log: $cache/tilt-ci.log)"; }
rm -rf "$stub"
say "the app is up; a chat turn through a port-forward"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
kubectl port-forward svc/agent-actors "$port:8000" >/dev/null 2>&1 &
pf=$!
sleep 3
curl -fsS -X POST "localhost:$port/chat/e2e" -H 'content-type: application/json' \
  -d '{"role": "user", "content": "Hello from kind"}' || die "the chat turn failed"
kill "$pf"
kubectl delete pod -l app.kubernetes.io/name=agent-actors --wait=true
kubectl rollout status deploy/agent-actors --timeout 5m
kubectl port-forward svc/agent-actors "$port:8000" >/dev/null 2>&1 &
pf=$!
sleep 3
curl -fsS "localhost:$port/chat/e2e/history" | grep -q 'Hello from kind' ||
  die "the conversation is gone after the pods were deleted"
kill "$pf"
say "done: the chat survived kubectl delete pod"
