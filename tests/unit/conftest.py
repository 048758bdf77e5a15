from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from agent_actors.main import create_app
from agent_actors.settings import AuthSettings, Settings
from tests.unit.twins import LocalActors, make_deps


@pytest.fixture
def twins() -> Iterator[tuple[TestClient, LocalActors]]:
    """The app with its actors served by the in-memory twin (no sidecar, no network)."""
    settings = Settings(auth=AuthSettings(app_api_token="unit-token"))
    with TestClient(create_app(settings)) as client:
        deps, actors, _ = make_deps(settings)
        client.app.state.deps = deps  # type: ignore[attr-defined]
        yield client, actors
