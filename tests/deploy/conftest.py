"""The deploy tier: the deploy files (k8s/, components/, dapr.yaml, Dockerfile, Tiltfile)
checked by the tools that read them for real: Tilt, Dapr's own sources from Go's module cache,
the Dockerfile's uv steps replayed. These need Go, Tilt or the network on a cold machine, so
they are not unit tests: `make check` leaves them out, `make test` runs them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.deploy import dapr_sources
from tests.manifests import REPO


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.deploy)


@pytest.fixture(scope="session")
def dapr_module() -> Path:
    """github.com/dapr/dapr (pinned in tools/dapr/go.mod) in Go's module cache."""
    return dapr_sources.dapr_module_dir()


@pytest.fixture(scope="session")
def tilt() -> Path:
    """Tilt, built from its Go module by tools/k8s/build-tools.sh (cached outside the repo;
    cold: several minutes), or the binary $TILT names."""
    if os.environ.get("TILT"):
        return Path(os.environ["TILT"])
    out = subprocess.run(
        ["bash", str(REPO / "tools" / "k8s" / "build-tools.sh")],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
        timeout=3600,
    )
    return Path(out.stdout.strip().splitlines()[-1])
