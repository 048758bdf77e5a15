"""Model requests and tool calls as GenAI spans: what they carry, and never the user's words."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from agent_actors.llm import spans
from agent_actors.models import ChatMessage
from tests.unit.llm.fake_openai import FakeModel, message, tool
from tests.unit.llm.test_openai_client import ask

SECRET = "my cat is Tom"


@pytest.fixture
def exported(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    # A provider of the test's own: OpenTelemetry's global one can be set once per process.
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(spans, "tracer", provider.get_tracer("test"))
    yield exporter
    provider.shutdown()


async def test_each_model_request_and_tool_call_is_a_span(
    exported: InMemorySpanExporter,
) -> None:
    model = FakeModel(
        message(None, [tool("search_history", '{"query": "cat"}')]), message("your cat is Tom")
    )
    request = ask("what is my cat called?", recent=[ChatMessage(role="user", content=SECRET)])
    await model.responder(max_output_tokens=64).reply(*request)

    first, tool_span, second = exported.get_finished_spans()
    assert [first.name, tool_span.name, second.name] == [
        "chat m",
        "execute_tool search_history",
        "chat m",
    ]
    assert first.kind is SpanKind.CLIENT
    attrs = dict(first.attributes or {})
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.model"] == "m"
    assert attrs["gen_ai.request.max_tokens"] == 64
    assert attrs["gen_ai.response.model"] == "m"
    assert attrs["gen_ai.usage.input_tokens"] == 7
    assert attrs["gen_ai.usage.output_tokens"] == 3
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert attrs["server.address"] == "model.test"
    assert attrs["agent_actors.model_call.purpose"] == "reply"
    assert dict(second.attributes or {})["agent_actors.model_call.purpose"] == "tool_step"
    assert dict(tool_span.attributes or {})["gen_ai.tool.name"] == "search_history"
    # The tool ran inside the turn, between the two requests.
    assert first.end_time is not None
    assert tool_span.start_time is not None
    assert first.end_time <= tool_span.start_time


async def test_no_span_holds_the_prompt_the_reply_or_tool_arguments(
    exported: InMemorySpanExporter,
) -> None:
    model = FakeModel(
        message(None, [tool("search_history", '{"query": "cat"}')]), message("your cat is Tom")
    )
    request = ask("what is my cat called?", recent=[ChatMessage(role="user", content=SECRET)])
    await model.responder().reply(*request)
    values = [
        str(v) for span in exported.get_finished_spans() for v in (span.attributes or {}).values()
    ]
    words = ("cat", "Tom", "called", "You are")
    assert values
    assert not [v for v in values if any(w in v for w in words)]


async def test_a_failed_request_is_an_error_span_with_its_code(
    exported: InMemorySpanExporter,
) -> None:
    model = FakeModel(httpx.Response(400, json={"error": {"message": "bad request"}}))
    with pytest.raises(Exception, match="400"):
        await model.responder().reply(*ask())
    (span,) = exported.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})["error.type"] == "responder_error"
