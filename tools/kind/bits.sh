#!/usr/bin/env bash
# Builds, from the Go module proxy, every binary a kind node needs that kind's own node image
# would bring from registries: Kubernetes (kubelet, kubeadm, kubectl and the control plane)
# from k8s.io/kubernetes with the wrapper module in tools/kubernetes, etcd (wrapper module in
# tools/kind/etcd), CoreDNS, containerd, crictl, the CNI plugins, local-path-provisioner, Helm,
# Dapr's control plane (operator, sentry, injector, from the same work dir tools/dapr/build.sh
# made), and the pause binary from Kubernetes' C source. One `go build` at a time, niced (the
# machine is shared). Skips what is already in the bits dir. Prints the bits dir on stdout.
#
#   tools/kind/bits.sh          # -> ~/.cache/agent-actors/kind-bits-<k8s version>
set -euo pipefail

K8S_VERSION=1.37.2    # tools/kubernetes/go.mod pins the same
ETCD_VERSION=3.7.0    # what kubeadm v1.37.2 deploys (`kubeadm config images list`)
COREDNS_VERSION=1.14.6
PAUSE_VERSION=3.10.2
CONTAINERD_VERSION=2.3.4  # kind v0.33.0's base image pins these four
CRICTL_VERSION=1.36.0
CNI_PLUGINS_VERSION=1.9.1
LOCAL_PATH_VERSION=0.0.30 # kind pins v0.0.34, which the Go proxy does not serve
HELM_VERSION=3.19.0
DAPR_VERSION=1.18.2

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${AGENT_ACTORS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agent-actors}
bits=$cache/kind-bits-$K8S_VERSION
mkdir -p "$bits/bin" "$bits/cni"

say() { printf 'kind-bits: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
N=(nice -n 19 ionice -c3)

step() { # step <name> <file that proves it is built> <command...>
  local name=$1 done_file=$2 start
  shift 2
  [ -x "$done_file" ] && return 0
  say "building $name"
  start=$(date +%s)
  "$@" >&2 || die "building $name failed."
  say "built $name in $(($(date +%s) - start))s"
}

command -v go >/dev/null || die "Go is not installed."
export GOFLAGS=-mod=readonly

k8s_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=v$K8S_VERSION \
  -X k8s.io/component-base/version.gitMajor=${K8S_VERSION%%.*} \
  -X k8s.io/component-base/version.gitMinor=$(cut -d. -f2 <<<"$K8S_VERSION") \
  -X k8s.io/component-base/version.gitTreeState=clean \
  -X k8s.io/client-go/pkg/version.gitVersion=v$K8S_VERSION"
k8s_cmds=(kubelet kubeadm kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy)
step kubernetes "$bits/bin/kube-proxy" bash -c "cd '$repo/tools/kubernetes' && CGO_ENABLED=0 \
  ${N[*]} go build -trimpath -ldflags '$k8s_ldflags' -o '$bits/bin/' \
  $(printf 'k8s.io/kubernetes/cmd/%s ' "${k8s_cmds[@]}")"
step etcd "$bits/bin/etcd" bash -c "cd '$here/etcd' && CGO_ENABLED=0 \
  ${N[*]} go build -trimpath -ldflags '-s -w' -o '$bits/bin/etcd' go.etcd.io/etcd/server/v3"

gi() { # go install <module>@<version> packages into <dir>, CGO off
  local dir=$1
  shift
  CGO_ENABLED=${CGO:-0} GOBIN=$dir GOFLAGS= "${N[@]}" go install -trimpath -ldflags '-s -w' "$@"
}
step coredns "$bits/bin/coredns" gi "$bits/bin" "github.com/coredns/coredns@v$COREDNS_VERSION"
step containerd "$bits/bin/containerd-shim-runc-v2" env CGO=1 bash -c "$(declare -f gi); N=(${N[*]}); \
  gi '$bits/bin' -tags 'no_aufs no_zfs no_btrfs no_devmapper' \
  $(for c in containerd ctr containerd-shim-runc-v2; do
    printf 'github.com/containerd/containerd/v2/cmd/%s@v%s ' "$c" "$CONTAINERD_VERSION"
  done)"
step crictl "$bits/bin/crictl" gi "$bits/bin" "sigs.k8s.io/cri-tools/cmd/crictl@v$CRICTL_VERSION"
step cni-plugins "$bits/cni/portmap" gi "$bits/cni" \
  $(for p in ipam/host-local main/loopback main/bridge main/ptp meta/portmap; do
    printf 'github.com/containernetworking/plugins/plugins/%s@v%s ' "$p" "$CNI_PLUGINS_VERSION"
  done)
step local-path-provisioner "$bits/bin/local-path-provisioner" gi "$bits/bin" \
  "github.com/rancher/local-path-provisioner@v$LOCAL_PATH_VERSION"
step helm "$bits/bin/helm" gi "$bits/bin" "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION"
dapr_work=$cache/dapr-build-$DAPR_VERSION
# daprd, placement and scheduler: the runtime this project builds (tools/dapr/build.sh, which
# also leaves the work dir with dapr's module and the wrapper go.mod); the control plane's
# other three from that same work dir.
step dapr-runtime "$bits/bin/scheduler" bash -c "
  bash '$repo/tools/dapr/build.sh' >&2 && d='$repo/.dapr/bin' &&
  cp -L \$d/daprd \$d/placement \$d/scheduler '$bits/bin/'"
# daprd in Kubernetes mode loads the kubernetes name resolver and secret store, which the
# local runtime (components.txt) leaves out: the cluster's daprd is the same build plus those
# two registrations, added with -overlay (the work dir itself stays as build.sh made it).
step daprd-kubernetes "$bits/bin/daprd-k8s" bash -c "
  cd '$dapr_work' && src=\$(go list -m -f '{{.Dir}}' github.com/dapr/dapr 2>/dev/null || true)
  mod=\$(GOFLAGS= go env GOMODCACHE)/github.com/dapr/dapr@v$DAPR_VERSION/cmd/daprd/components
  printf '{\"Replace\": {\"%s/nameresolution_kubernetes.go\": \"%s/nameresolution_kubernetes.go\", \"%s/secretstores_kubernetes.go\": \"%s/secretstores_kubernetes.go\"}}' \
    '$dapr_work/dapr/cmd/daprd/components' \"\$mod\" '$dapr_work/dapr/cmd/daprd/components' \"\$mod\" >'$bits/overlay.json'
  GONOSUMDB='*' CGO_ENABLED=0 ${N[*]} go build -trimpath -tags allcomponents -overlay '$bits/overlay.json' \
    -ldflags '-s -w -X github.com/dapr/dapr/pkg/buildinfo.version=$DAPR_VERSION' -o '$bits/bin/daprd-k8s' \
    github.com/dapr/dapr/cmd/daprd"
step dapr-control-plane "$bits/bin/injector" bash -c "
  cd '$dapr_work' && GONOSUMDB='*' CGO_ENABLED=0 ${N[*]} go build -trimpath \
    -ldflags '-s -w -X github.com/dapr/dapr/pkg/buildinfo.version=$DAPR_VERSION' -o '$bits/bin/' \
    github.com/dapr/dapr/cmd/operator github.com/dapr/dapr/cmd/sentry github.com/dapr/dapr/cmd/injector"
step pause "$bits/bin/pause" bash -c "cd '$repo/tools/kubernetes' && \
  src=\$(go list -m -f '{{.Dir}}' k8s.io/kubernetes)/build/pause/linux/pause.c && \
  ${N[*]} gcc -Os -Wall -Werror -static -DVERSION=v$PAUSE_VERSION-agent-actors -o '$bits/bin/pause' \"\$src\""
echo "$bits"
