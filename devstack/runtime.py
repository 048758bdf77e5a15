"""Finding the Dapr runtime binaries, building them from the Go module when missing."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

from devstack.errors import StackError
from devstack.settings import REPO_ROOT

log = logging.getLogger(__name__)

BUILD_SCRIPT = REPO_ROOT / "tools" / "dapr" / "build.sh"
BINARIES = ("daprd", "placement", "scheduler")


def pinned_version() -> str:
    for line in BUILD_SCRIPT.read_text().splitlines():
        if line.startswith("DAPR_VERSION="):
            return line.split("=", 1)[1].strip()
    raise StackError(f"{BUILD_SCRIPT} names no DAPR_VERSION.")


def ensure_runtime(bin_dir: Path) -> dict[str, Path]:
    """Paths of daprd, placement and scheduler; runs the build script (which reuses what is
    there at the pinned version) so a fresh checkout needs nothing by hand."""
    import os

    env = {**os.environ, "DAPR_BIN_DIR": str(bin_dir)}
    log.info("checking the Dapr %s runtime in %s", pinned_version(), bin_dir)
    result = subprocess.run(["bash", str(BUILD_SCRIPT)], env=env, check=False)
    if result.returncode != 0:
        raise StackError(
            f"building the Dapr runtime failed (exit {result.returncode}): see the "
            f"dapr-build lines above; the script is {BUILD_SCRIPT.relative_to(REPO_ROOT)}."
        )
    paths = {name: bin_dir / name for name in BINARIES}
    missing = [str(p) for p in paths.values() if not p.exists()]
    if missing:
        raise StackError(f"the Dapr runtime build left no binary at {', '.join(missing)}.")
    return paths
