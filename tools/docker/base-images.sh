#!/usr/bin/env bash
# The base images the Dockerfile's build args name, made here when no registry answers.
#
#   tools/docker/base-images.sh          # prints PYTHON_IMAGE=<image> and UV_IMAGE=<image>
#   tools/docker/base-images.sh stack    # prints the image the image test runs Redis, placement,
#                                        # scheduler and daprd in (the base + Redis)
#
# For each of PYTHON_IMAGE and UV_IMAGE (defaults: the Dockerfile's ARGs, the public images):
# the public image if Docker has it or can pull it, else a local stand-in, made once and kept in
# Docker's image store:
#   agent-actors-local/python:3.11-bookworm   Debian bookworm by debootstrap (its python3 is 3.11)
#                                             from the APT mirror this machine is configured with
#   agent-actors-local/uv:<version>           /uv and /uvx from uv's wheel on PyPI, as the
#                                             ghcr.io/astral-sh/uv image lays them out
# PYTHON_IMAGE=... / UV_IMAGE=... in the environment: those, as they are.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${AGENT_ACTORS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agent-actors}
state=$cache/docker
docker=$(bash "$here/engine.sh" cli)

say() { printf 'base-images: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

dockerfile_arg() { # the default of `ARG <name>=...` in the Dockerfile
  sed -n "s/^ARG $1=//p" "$repo/Dockerfile" | head -n1
}

PUBLIC_PYTHON=$(dockerfile_arg PYTHON_IMAGE)
PUBLIC_UV=$(dockerfile_arg UV_IMAGE)
[ -n "$PUBLIC_PYTHON" ] && [ -n "$PUBLIC_UV" ] || die "the Dockerfile has no PYTHON_IMAGE/UV_IMAGE ARG defaults."
UV_VERSION=${PUBLIC_UV##*:}
LOCAL_PYTHON=agent-actors-local/python:3.11-bookworm
LOCAL_UV=agent-actors-local/uv:$UV_VERSION
STACK=agent-actors-local/stack:bookworm

have() { "$docker" image inspect "$1" >/dev/null 2>&1; }

# The public image when Docker has it or can pull it, else the stand-in (made when missing).
# A stand-in made before is used without asking a registry again: a warm run asks nothing.
pick() {
  local public=$1 local_name=$2 maker=$3
  if have "$public"; then echo "$public"; return; fi
  if have "$local_name"; then echo "$local_name"; return; fi
  if timeout 120 "$docker" pull -q "$public" >/dev/null 2>&1; then echo "$public"; return; fi
  say "$public cannot be pulled: making $local_name"
  "$maker" "$local_name" >&2
  echo "$local_name"
}

# The Debian mirror APT uses here (first deb.debian.org-like URL that is not -security).
mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  local url
  url=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
    2>/dev/null | grep -Eo 'https?://[^ ]+/debian/?( |$)' | grep -v security | head -n1 | tr -d ' ' || true)
  echo "${url:-http://deb.debian.org/debian}"
}

rootfs_cleanup() { # unmount what debootstrap may have left mounted, then delete
  local dir=$1 m
  [ -d "$dir" ] || return 0
  for m in $(awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r); do
    umount -l "$m" || true
  done
  rm -rf --one-file-system "$dir"
}

make_python() {
  local name=$1 dir=$state/rootfs-python started=$SECONDS
  [ "$(id -u)" = 0 ] || die "making $name needs root (debootstrap)."
  command -v debootstrap >/dev/null || PATH=$PATH:/usr/sbin
  command -v debootstrap >/dev/null || die "debootstrap is missing: run \`bash $here/engine.sh install\`."
  mkdir -p "$state"
  rootfs_cleanup "$dir"
  trap 'rootfs_cleanup "'"$dir"'"' EXIT
  say "debootstrap bookworm from $(mirror) (about a minute)"
  debootstrap --variant=minbase --include=python3,ca-certificates bookworm "$dir" "$(mirror)" \
    >"$state/debootstrap.log" 2>&1 || die "debootstrap failed: see $state/debootstrap.log."
  chroot "$dir" python3 -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
    || die "the bookworm root's python3 is not 3.11."
  # This machine's own CAs (an egress proxy's, say) go in as they are in its trust store, so uv
  # in the build reaches PyPI the way the host does; SSL_CERT_FILE below makes uv read that
  # bundle (it trusts only its built-in roots otherwise).
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$dir/usr/local/share/ca-certificates/"
    chroot "$dir" update-ca-certificates >/dev/null 2>&1
  fi
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* "$dir"/tmp/*
  # What python:3.11-slim sets too: a UTF-8 locale and python3 as the default command.
  tar -C "$dir" -c . | "$docker" import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'CMD ["python3"]' - "$name" >/dev/null
  rootfs_cleanup "$dir"
  trap - EXIT
  say "$name made in $((SECONDS - started)) s"
}

make_uv() {
  local name=$1 tmp arch
  case $(uname -m) in
    x86_64) arch=x86_64 ;;
    aarch64) arch=aarch64 ;;
    *) die "no uv wheel known for $(uname -m)." ;;
  esac
  tmp=$(mktemp -d)
  trap 'rm -rf "'"$tmp"'"' EXIT
  # The wheel the simple index names (PyPI's, or $UV_INDEX_URL / $PIP_INDEX_URL), checked
  # against its sha256; the Python standard library only (under `uv run` python3 is the venv's,
  # which has no pip).
  python3 - "$tmp" "$UV_VERSION" "$arch" "${UV_INDEX_URL:-${PIP_INDEX_URL:-https://pypi.org/simple}}" \
    <<'EOF_FETCH' || die "could not download uv $UV_VERSION's wheel from the package index."
import hashlib, json, pathlib, sys, urllib.parse, urllib.request

tmp, version, arch, index_url = pathlib.Path(sys.argv[1]), *sys.argv[2:]
# The simple index in its JSON form (PEP 691), as pip and uv read it.
index = urllib.request.Request(
    f"{index_url.rstrip('/')}/uv/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
)
with urllib.request.urlopen(index, timeout=60) as resp:
    files = json.load(resp)["files"]
name = f"uv-{version}-py3-none-manylinux_2_17_{arch}"
(wheel,) = [f for f in files if f["filename"].startswith(name) and f["filename"].endswith(".whl")]
with urllib.request.urlopen(urllib.parse.urljoin(index.full_url, wheel["url"]), timeout=300) as resp:
    data = resp.read()
assert hashlib.sha256(data).hexdigest() == wheel["hashes"]["sha256"], "sha256 mismatch"
(tmp / wheel["filename"]).write_bytes(data)
EOF_FETCH
  python3 - "$tmp" <<'EOF_UNPACK'
import pathlib, sys, zipfile

tmp = pathlib.Path(sys.argv[1])
(wheel,) = tmp.glob("uv-*.whl")
with zipfile.ZipFile(wheel) as z:
    for name in ("uv", "uvx"):
        (member,) = [m for m in z.namelist() if m.endswith(f".data/scripts/{name}")]
        target = tmp / "root" / name
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(z.read(member))
        target.chmod(0o755)
EOF_UNPACK
  tar -C "$tmp/root" -c --owner=0 --group=0 uv uvx | "$docker" import - "$name" >/dev/null
  rm -rf "$tmp"
  trap - EXIT
  say "$name made from uv $UV_VERSION's wheel"
}

# One maker at a time (`make image` and the image test may run together): the second one then
# finds the images made.
mkdir -p "$state"
if command -v flock >/dev/null; then
  exec 9>"$state/.base-images.lock"
  flock 9
fi

python_image=${PYTHON_IMAGE:-}
if [ -z "$python_image" ]; then
  python_image=$(pick "$PUBLIC_PYTHON" "$LOCAL_PYTHON" make_python) || exit 1
fi

case ${1:-} in
  "")
    uv_image=${UV_IMAGE:-}
    if [ -z "$uv_image" ]; then
      uv_image=$(pick "$PUBLIC_UV" "$LOCAL_UV" make_uv) || exit 1
    fi
    echo "PYTHON_IMAGE=$python_image"
    echo "UV_IMAGE=$uv_image"
    ;;
  stack)
    # Rebuilt (from the layer cache: instant) so a changed base is picked up.
    printf '%s\n' \
      'ARG BASE' \
      'FROM ${BASE}' \
      'RUN apt-get update -qq \' \
      ' && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null \' \
      ' && rm -rf /var/lib/apt/lists/*' \
      | DOCKER_BUILDKIT=1 "$docker" build -q --build-arg BASE="$python_image" -t "$STACK" - >/dev/null \
      || die "building $STACK (Redis from Debian's package on $python_image) failed."
    echo "$STACK"
    ;;
  *) die "usage: $0 [stack]" ;;
esac
