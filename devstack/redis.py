"""Finding ``redis-server`` (installing Debian's package when we are root and it is missing)."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys

from devstack.errors import StackError
from devstack.settings import get_settings

log = logging.getLogger(__name__)

INSTALL_HINT = "install it with `sudo apt-get install -y redis-server` (or your OS's package)"


def ensure_redis_server(name: str = "redis-server") -> str:
    """The path of ``name``; a bare name missing from PATH is installed with apt when we are
    root, a path that does not exist is an error (nothing to install there)."""
    found = shutil.which(name)
    if found:
        return found
    if os.sep in name:
        raise StackError(f"redis-server was not found at {name}: fix the redis_server setting.")
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise StackError(f"redis-server is not installed: {INSTALL_HINT}.")
    log.info("redis-server is missing: installing Debian's redis-server package")
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "redis-server"]):
        done = subprocess.run(
            argv,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
            raise StackError(
                f"installing redis-server with apt-get failed ({' '.join(tail)}): {INSTALL_HINT}."
            )
    found = shutil.which("redis-server")
    if not found:
        raise StackError(f"redis-server is still missing after apt-get: {INSTALL_HINT}.")
    return found


def main() -> int:
    """``make redis``: the lookup (and install) the stack does at start, run up front so that
    ``make test`` installs redis-server in a step of its own. Prints the path found."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        found = ensure_redis_server(get_settings().stack.redis_server)
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"redis-server: {found}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
