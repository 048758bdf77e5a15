from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.deploy import manifests


@pytest.fixture(scope="session")
def dapr_module() -> Path:
    """github.com/dapr/dapr (pinned in tools/dapr/go.mod) in Go's module cache."""
    return manifests.dapr_module_dir()
