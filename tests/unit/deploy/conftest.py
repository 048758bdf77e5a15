from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.unit.deploy import manifests


@pytest.fixture(scope="session")
def dapr_module() -> Path:
    """github.com/dapr/dapr (pinned in tools/dapr/go.mod) in Go's module cache."""
    return manifests.dapr_module_dir()


@pytest.fixture(scope="session")
def tilt() -> Path:
    """Tilt, built from its Go module by tools/k8s/build-tools.sh (cached outside the repo;
    cold: several minutes), or the binary $TILT names."""
    if os.environ.get("TILT"):
        return Path(os.environ["TILT"])
    out = subprocess.run(
        ["bash", str(manifests.REPO / "tools" / "k8s" / "build-tools.sh")],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
        timeout=3600,
    )
    return Path(out.stdout.strip().splitlines()[-1])
