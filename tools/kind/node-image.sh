#!/usr/bin/env bash
# Makes a kind node image without any registry: what kind v0.33.0's kindest/base and
# `kind build node-image` would make, from Debian trixie (debootstrap, as kind's base starts
# from debian:trixie-slim) and the binaries tools/kind/bits.sh builds from the Go module proxy.
# `kind build node-image` itself cannot be used here: it `ctr content fetch`es from
# registry.k8s.io and docker.io every image it did not build (etcd, CoreDNS, pause, kindnetd,
# local-path-provisioner) and fails when no registry answers. The images a node preloads are
# built here (FROM scratch + the binary, as the upstream distroless images) and imported into
# the node's containerd at boot, before the kubelet starts.
#
#   tools/kind/node-image.sh <docker CLI>     # prints the image name on stdout
set -euo pipefail

K8S_VERSION=1.37.2
NODE_IMAGE=agent-actors-local/kind-node:v$K8S_VERSION
ROOTFS_IMAGE=agent-actors-local/kind-rootfs:trixie
KIND_VERSION=0.33.0

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${AGENT_ACTORS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agent-actors}
docker=${1:?usage: node-image.sh <docker CLI>}

say() { printf 'kind-node: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
N=(nice -n 19 ionice -c3)

have_image() { "$docker" image inspect "$1" >/dev/null 2>&1; }
if have_image "$NODE_IMAGE" && [ "${REBUILD:-}" != 1 ]; then
  echo "$NODE_IMAGE"
  exit 0
fi

bits=$(bash "$here/bits.sh")
kind_src=$(go env GOMODCACHE)/sigs.k8s.io/kind@v$KIND_VERSION
[ -d "$kind_src/images/base/files" ] || bash "$here/build.sh" >/dev/null
mirror=$(sed -n 's/^URIs: *\(http[^ ]*debian\/*\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
mirror=${mirror:-http://deb.debian.org/debian}

# 1. the root filesystem: kind's base image's Debian packages, plus Debian's runc.
if ! have_image "$ROOTFS_IMAGE"; then
  [ "$(id -u)" = 0 ] || die "debootstrap needs root."
  command -v debootstrap >/dev/null || PATH=$PATH:/usr/sbin
  dir=$(mktemp -d "$cache/kind-rootfs.XXXXXX")
  trap 'umount -R "$dir/proc" "$dir/sys" 2>/dev/null || true; rm -rf "$dir"' EXIT
  say "debootstrap trixie from $mirror"
  start=$(date +%s)
  "${N[@]}" debootstrap --variant=minbase \
    --include=systemd,conntrack,iptables,nftables,iproute2,ethtool,util-linux,mount,kmod,libseccomp2,pigz,e2fsprogs,bash,ca-certificates,curl,jq,procps,runc \
    trixie "$dir" "$mirror" >"$cache/kind-rootfs.log" 2>&1 ||
    die "debootstrap failed: see $cache/kind-rootfs.log"
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin
  tar -C "$dir" -c . | "$docker" import - "$ROOTFS_IMAGE" >/dev/null
  rm -rf "$dir"
  trap - EXIT
  say "made $ROOTFS_IMAGE in $(($(date +%s) - start))s"
fi

ctx=$(mktemp -d "$cache/kind-node-ctx.XXXXXX")
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/images"

# 2. the images the node preloads, under the names kubeadm and kind's manifests use.
image() { # image <name:tag...> -- <Dockerfile lines>; built from $ctx/img, saved to images/
  local tags=() t
  while [ "$1" != -- ]; do tags+=("$1"); shift; done
  shift
  rm -rf "$ctx/img" && mkdir -p "$ctx/img"
  printf '%s\n' "$@" >"$ctx/img/Dockerfile"
  for t in $(sed -n 's/^COPY \([^ ]*\) .*/\1/p' "$ctx/img/Dockerfile"); do cp "$bits/bin/$t" "$ctx/img/"; done
  "${N[@]}" "$docker" build -q $(for t in "${tags[@]}"; do printf -- '-t %s ' "$t"; done) "$ctx/img" >/dev/null ||
    die "building ${tags[0]} failed"
  "$docker" save "${tags[@]}" -o "$ctx/images/$(basename "${tags[0]%%:*}").tar"
}
k=registry.k8s.io
for c in kube-apiserver kube-controller-manager kube-scheduler; do
  image "$k/$c:v$K8S_VERSION" -- "FROM scratch" "COPY $c /usr/local/bin/$c" "ENTRYPOINT [\"/usr/local/bin/$c\"]"
done
# kube-proxy runs iptables/nft: the Debian root fs has them (upstream: distroless-iptables).
image "$k/kube-proxy:v$K8S_VERSION" -- "FROM $ROOTFS_IMAGE" "COPY kube-proxy /usr/local/bin/kube-proxy"
image "$k/etcd:3.7.0-0" -- "FROM scratch" "COPY etcd /usr/local/bin/etcd" "ENTRYPOINT [\"/usr/local/bin/etcd\"]"
image "$k/coredns/coredns:v1.14.6" -- "FROM scratch" "COPY coredns /coredns" "USER 65532" "ENTRYPOINT [\"/coredns\"]"
# kind's containerd config names pause:3.10, kubeadm 3.10.2: the same image under both.
image "$k/pause:3.10.2" "$k/pause:3.10" -- "FROM scratch" "COPY pause /pause" "USER 65535:65535" "ENTRYPOINT [\"/pause\"]"
image docker.io/kindest/local-path-provisioner:v20260820-69b56db7 -- "FROM scratch" \
  "COPY local-path-provisioner /usr/local/bin/local-path-provisioner" \
  "ENTRYPOINT [\"/usr/local/bin/local-path-provisioner\"]"
image docker.io/kindest/local-path-helper:v20260131-7181c60a -- "FROM $ROOTFS_IMAGE"

# 3. the node: kind's base image's files and services, the binaries, the images.
cp -r "$kind_src/images/base/files" "$ctx/files" && chmod -R u+w "$ctx/files"
# Where root lacks CAP_SYS_RESOURCE (as here), no process may lower its oom_score_adj, and
# every pod sandbox (-998) fails: "nsexec: failed to update /proc/self/oom_score_adj:
# Permission denied". containerd's switch for rootless kind keeps the scores at or above its own.
sed -i 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' "$ctx/files/etc/containerd/config.toml"
mkdir -p "$ctx/bin" "$ctx/cni"
for b in containerd ctr containerd-shim-runc-v2 crictl kubelet kubeadm kubectl; do cp "$bits/bin/$b" "$ctx/bin/"; done
cp "$bits"/cni/* "$ctx/cni/"
echo "v$K8S_VERSION" >"$ctx/version"
# One node, so no kindnetd (its source is not on the Go module proxy): the CNI's bridge plugin
# on kind's pod subnet. The cluster is created with networking.disableDefaultCNI.
cat >"$ctx/10-bridge.conflist" <<'EOF'
{"cniVersion": "1.0.0", "name": "kind-bridge", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.0.0/16"}]],
            "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
EOF
cat >"$ctx/kind-import-images.service" <<'EOF'
[Unit]
Description=Import the preloaded images into containerd (no registry to pull them from)
After=containerd.service
Requires=containerd.service
Before=kubelet.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'for f in /kind/images/*.tar; do ctr -n k8s.io images import --no-unpack "$f" || exit 1; done'
[Install]
WantedBy=multi-user.target
EOF
# kind's default storage manifest, as `kind build node-image` writes it (const_storage.go).
sed -n '/^const defaultStorageManifest = `/,/^`$/p' "$kind_src/pkg/build/nodeimage/const_storage.go" |
  sed '1d;$d' | sed 's/` + storageProvisionerImage + `/docker.io\/kindest\/local-path-provisioner:v20260820-69b56db7/;
    s/` + storageHelperImage + `/docker.io\/kindest\/local-path-helper:v20260131-7181c60a/' >"$ctx/default-storage.yaml"

cat >"$ctx/Dockerfile" <<EOF
FROM $ROOTFS_IMAGE
COPY files/usr/local/bin/ /usr/local/bin/
COPY files/kind/ /kind/
COPY files/etc/ /etc/
COPY bin/ /usr/local/bin/
COPY cni/ /opt/cni/bin/
COPY 10-bridge.conflist /etc/cni/net.d/
COPY kind-import-images.service /etc/systemd/system/
COPY images/ /kind/images/
COPY version /kind/version
COPY default-storage.yaml /kind/manifests/default-storage.yaml
RUN chmod 755 /kind /kind/bin /kind/bin/* /usr/local/bin/* \\
 && mv /usr/local/bin/kubelet /usr/local/bin/kubeadm /usr/local/bin/kubectl /usr/bin/ \\
 && ln -sf /usr/sbin/runc /usr/local/sbin/runc \\
 && find /lib/systemd/system/sysinit.target.wants/ -name systemd-tmpfiles-setup.service -delete \\
 && rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \\
      /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \\
      /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/* \\
 && echo ReadKMsg=no >>/etc/systemd/journald.conf \\
 && ln -sf /usr/lib/systemd/systemd /sbin/init \\
 && systemctl enable kubelet.service containerd.service undo-mount-hacks.service kind-import-images.service \\
 && systemctl mask systemd-binfmt.service \\
 && mkdir -p /etc/kubernetes/manifests \\
 && ctr oci spec \\
    | jq '.hooks.createContainer[.hooks.createContainer| length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' \\
    | jq 'del(.process.rlimits)' >/etc/containerd/cri-base.json
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]
EOF
say "building $NODE_IMAGE"
start=$(date +%s)
"${N[@]}" "$docker" build -q -t "$NODE_IMAGE" "$ctx" >/dev/null || die "building $NODE_IMAGE failed"
say "built $NODE_IMAGE in $(($(date +%s) - start))s"
echo "$NODE_IMAGE"
