"""What every request pays: no dependency runs in FastAPI's thread pool (a thread hop per
request each), and FastAPI's own telemetry does not look up OpenTelemetry's globals."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.testclient import TestClient
from opentelemetry import trace

from agent_actors.api.auth import _api_routes
from agent_actors.main import create_app
from agent_actors.settings import Settings


def calls(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from calls(sub)


def test_every_dependency_of_the_api_is_async() -> None:
    app = create_app(Settings())
    sync = {
        (route.path, getattr(call, "__name__", repr(call)))
        for route in _api_routes(app.routes)
        for call in calls(route.dependant)
        if call is not None
        and not inspect.iscoroutinefunction(call)
        and not inspect.iscoroutinefunction(type(call).__call__)
    }
    assert any(route.path == "/subscribe/dead-letter" for route in _api_routes(app.routes))
    assert not sync, sorted(sync)


def test_fastapi_native_telemetry_does_not_run_per_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    looked_up: list[str] = []
    real = trace.get_tracer_provider

    def counting() -> Any:
        looked_up.append("tracer provider")
        return real()

    monkeypatch.setattr(trace, "get_tracer_provider", counting)
    with TestClient(create_app(Settings())) as client:
        looked_up.clear()
        for _ in range(3):
            assert client.get("/healthz").status_code == 200
    assert looked_up == []
