"""tracing.py: span names without ids, the trace id helper, off means nothing installed."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider

from agent_actors import tracing
from agent_actors.errors import ResponderTimeout
from agent_actors.settings import TracingSettings
from agent_actors.sidecar.boundary import actor_method


@pytest.mark.parametrize(
    ("path", "route"),
    [
        (
            "/v1.0/actors/ChatAgent/user1/method/ProcessMessage",
            "/v1.0/actors/ChatAgent/{id}/method/ProcessMessage",
        ),
        ("/v1.0/actors/ChatAgent/user1/state", "/v1.0/actors/ChatAgent/{id}/state"),
        (
            "/v1.0/actors/ChatAgent/user1/state/history-3",
            "/v1.0/actors/ChatAgent/{id}/state/{key}",
        ),
        (
            "/v1.0/actors/ChatAgent/user1/reminders/outbox",
            "/v1.0/actors/ChatAgent/{id}/reminders/outbox",
        ),
        ("/v1.0/state/statestore/dead-letters|user|u1", "/v1.0/state/statestore/{key}"),
        ("/v1.0/publish/daca-pubsub/user-chat", "/v1.0/publish/daca-pubsub/user-chat"),
    ],
)
def test_client_span_names_hold_no_ids(path: str, route: str) -> None:
    assert tracing.client_route(path) == route


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/actors/ChatAgent/u1/method/ProcessMessage", "ChatAgent.ProcessMessage"),
        ("/actors/MemoryAgentActor/memory-u1/method/GetMemory", "MemoryAgentActor.GetMemory"),
        ("/actors/ChatAgent/u1/method/remind/outbox", "ChatAgent.remind/outbox"),
        ("/actors/ChatAgent/u1", "ChatAgent.Deactivate"),
        ("/chat/u1", "POST /chat/{id}"),  # not an actor call: the route's name stays
    ],
)
def test_daprds_calls_into_actors_are_named_as_daprd_names_them(path: str, name: str) -> None:
    with TracerProvider().get_tracer("t").start_as_current_span("POST /chat/{id}") as span:
        tracing._name_actor_call(span, {"path": path})
    assert isinstance(span, ReadableSpan)
    assert span.name == name
    if name != "POST /chat/{id}":
        assert dict(span.attributes or {})["dapr.actor.id"] == path.split("/")[3]


def test_the_current_trace_id_is_the_one_a_backend_shows() -> None:
    assert tracing.current_trace_id() is None
    with TracerProvider().get_tracer("t").start_as_current_span("s") as span:
        assert tracing.current_trace_id() == format(span.get_span_context().trace_id, "032x")
    assert tracing.current_trace_id() is None


def test_off_installs_nothing() -> None:
    assert tracing.configure(TracingSettings(), "agent-actors") is None
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)


async def test_a_domain_error_marks_the_actor_calls_span() -> None:
    class Cleared:
        async def clear_cache(self) -> None:
            pass

    class Actor:
        _state_manager = Cleared()

        @actor_method
        async def fail(self) -> None:
            raise ResponderTimeout("the model took too long")

    with TracerProvider().get_tracer("t").start_as_current_span("ChatAgent.ProcessMessage") as s:
        assert "error" in await Actor().fail()
    assert isinstance(s, ReadableSpan)
    assert s.status.status_code is trace.StatusCode.ERROR
    assert dict(s.attributes or {})["error.type"] == "responder_timeout"
