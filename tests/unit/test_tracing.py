"""tracing.py: span names without ids, the trace id helper, off means nothing installed."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from agent_actors import tracing
from agent_actors.actors.boundary import span_name
from agent_actors.actors.chat_agent import ChatAgent
from agent_actors.actors.memory_agent import MemoryAgentActor
from agent_actors.actors.response_agent import ResponseAgent
from agent_actors.settings import TracingSettings


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


def test_actor_spans_are_named_as_dapr_names_the_calls() -> None:
    assert span_name(ChatAgent, "process_message") == "ChatAgent.ProcessMessage"
    assert span_name(ResponseAgent, "process_message") == "ResponseAgent.ProcessMessage"
    assert span_name(MemoryAgentActor, "get_memory") == "MemoryAgentActor.GetMemory"
    assert span_name(MemoryAgentActor, "update_memory") == "MemoryAgentActor.UpdateMemory"


def test_the_current_trace_id_is_the_one_a_backend_shows() -> None:
    assert tracing.current_trace_id() is None
    with TracerProvider().get_tracer("t").start_as_current_span("s") as span:
        assert tracing.current_trace_id() == format(span.get_span_context().trace_id, "032x")
    assert tracing.current_trace_id() is None


def test_off_installs_nothing() -> None:
    assert tracing.configure(TracingSettings(), "agent-actors") is None
    assert tracing.sidecar_trace_configs(None) == []
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)
