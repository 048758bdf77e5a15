"""GET /ui (the page's files) and GET /inspect/runtime (daprd's metadata, passed on)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider

from agent_actors.api.routes.chat import trace_response
from agent_actors.api.routes.inspect import runtime_view, trace_url
from agent_actors.main import create_app
from agent_actors.settings import AuthSettings, Settings, TracingSettings

# daprd 1.18's answer to GET /v1.0/metadata, trimmed to what the route reads and a little more.
METADATA: dict[str, Any] = {
    "id": "agent-actors",
    "runtimeVersion": "1.18.2",
    "actors": [{"type": "ChatAgent", "count": 2}],
    "components": [
        {
            "name": "statestore",
            "type": "state.redis",
            "version": "v1",
            "capabilities": ["ETAG", "TRANSACTIONAL", "ACTOR"],
        },
        {"name": "daca-pubsub", "type": "pubsub.redis", "version": "v1"},
    ],
    "subscriptions": [
        {
            "pubsubname": "daca-pubsub",
            "topic": "user-chat",
            "rules": [{"path": "/subscribe"}],
            "deadLetterTopic": "user-chat-deadletter",
            "type": "DECLARATIVE",
        }
    ],
    "actorRuntime": {
        "runtimeStatus": "RUNNING",
        "activeActors": [
            {"type": "ChatAgent", "count": 2},
            {"type": "ResponseAgent", "count": 1},
        ],
        "hostReady": True,
        "placement": "placement: connected",
    },
}


class FakeSidecar:
    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    async def call(self, method: str, path: str, body: bytes | None = None) -> bytes:
        self.asked.append((method, path))
        return json.dumps(METADATA).encode()


@pytest.fixture
def keyed() -> Iterator[tuple[TestClient, FakeSidecar]]:
    settings = Settings(auth=AuthSettings(api_keys={"k-alice": "alice"}, app_api_token="unit"))
    sidecar = FakeSidecar()
    with TestClient(create_app(settings)) as client:
        client.app.state.sidecar = sidecar  # type: ignore[attr-defined]
        yield client, sidecar


def test_the_runtime_view_reads_daprds_metadata() -> None:
    view = runtime_view(METADATA)
    assert (view.app_id, view.runtime_version, view.actor_runtime) == (
        "agent-actors",
        "1.18.2",
        "RUNNING",
    )
    assert [(a.type, a.count) for a in view.actors] == [("ChatAgent", 2), ("ResponseAgent", 1)]
    assert [(c.name, c.type) for c in view.components] == [
        ("statestore", "state.redis"),
        ("daca-pubsub", "pubsub.redis"),
    ]
    (sub,) = view.subscriptions
    assert (sub.pubsub, sub.topic, sub.routes, sub.dead_letter_topic) == (
        "daca-pubsub",
        "user-chat",
        ["/subscribe"],
        "user-chat-deadletter",
    )
    assert view.trace_url is None
    # An older daprd: only the top-level ``actors``.
    older = runtime_view({"id": "x", "actors": [{"type": "ChatAgent", "count": 1}]})
    assert [(a.type, a.count) for a in older.actors] == [("ChatAgent", 1)]


def test_the_runtime_route_needs_a_known_key_when_keys_are_set(
    keyed: tuple[TestClient, FakeSidecar],
) -> None:
    client, sidecar = keyed
    assert client.get("/inspect/runtime").status_code == 401
    bad = client.get("/inspect/runtime", headers={"Authorization": "Bearer nope"})
    assert (bad.status_code, bad.json()["code"]) == (401, "unauthorized")
    ok = client.get("/inspect/runtime", headers={"Authorization": "Bearer k-alice"})
    assert ok.status_code == 200
    assert ok.json()["actors"][0] == {"type": "ChatAgent", "count": 2}
    assert sidecar.asked == [("GET", "/v1.0/metadata")]


def test_the_page_is_served_with_its_files_and_a_strict_policy(
    keyed: tuple[TestClient, FakeSidecar],
) -> None:
    client, _ = keyed
    page = client.get("/ui")  # no key: the page holds no data
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "connect-src 'self'" in policy
    assert '<script src="/ui/inspector.js"' in page.text
    assert "<script>" not in page.text  # no inline script: the policy would refuse it
    script = client.get("/ui/inspector.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "innerHTML" not in script.text  # model and user text go in as text only
    assert client.get("/ui/inspector.css").headers["content-type"].startswith("text/css")


def test_the_page_labels_every_field(keyed: tuple[TestClient, FakeSidecar]) -> None:
    client, _ = keyed
    html = client.get("/ui").text
    for field_id in ("user-id", "api-key", "message"):
        assert f'<label for="{field_id}"' in html
    assert 'aria-live="polite"' in html


def test_a_traced_request_names_its_trace_and_the_page_gets_the_link_template() -> None:
    provider = TracerProvider()
    with provider.get_tracer("test").start_as_current_span("POST /chat/{id}") as span:
        header = trace_response()["traceresponse"]
    ids = span.get_span_context()
    assert header == f"00-{ids.trace_id:032x}-{ids.span_id:016x}-{ids.trace_flags:02x}"
    assert trace_response() == {}  # outside a trace: no header

    settings = Settings(tracing=TracingSettings(enabled=True, ui_url="http://127.0.0.1:16686/"))
    assert trace_url(settings) == "http://127.0.0.1:16686/trace/{trace_id}"
    settings.tracing.enabled = False
    assert trace_url(settings) is None
    assert trace_url(Settings(tracing=TracingSettings(enabled=True))) is None
