"""Spans of model requests and tool calls, with OpenTelemetry's GenAI semantic conventions.

A model request is a CLIENT span ``chat {model}``: the model asked for and the one that
answered, token counts, finish reasons, the server; a tool call is ``execute_tool {name}``.
Never the prompt, the reply or a tool's arguments: they are a user's words.
No-ops until tracing is on (``agent_actors.tracing``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import trace

from agent_actors.llm.completion import ModelCallFailed, ModelTurn

tracer = trace.get_tracer("agent_actors.llm")
PROVIDER = "openai"  # the protocol spoken: OpenAI itself or any compatible server


@contextmanager
def model_call(
    model: str, base_url: str | None, options: dict[str, Any], purpose: str, attempt: int
) -> Iterator[trace.Span]:
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": PROVIDER,
        "gen_ai.system": PROVIDER,  # the name before semantic conventions 1.37
        "gen_ai.request.model": model,
        "agent_actors.model_call.purpose": purpose,
        "agent_actors.model_call.attempt": attempt,
    }
    if "max_tokens" in options:
        attributes["gen_ai.request.max_tokens"] = options["max_tokens"]
    if "temperature" in options:
        attributes["gen_ai.request.temperature"] = options["temperature"]
    if base_url:
        server = urlsplit(base_url)
        attributes["server.address"] = server.hostname or ""
        if server.port:
            attributes["server.port"] = server.port
    with tracer.start_as_current_span(
        f"chat {model}", kind=trace.SpanKind.CLIENT, attributes=attributes
    ) as span:
        try:
            yield span
        except ModelCallFailed as failed:
            span.set_attribute("error.type", failed.error.code)
            raise


def answered(span: trace.Span, turn: ModelTurn) -> None:
    """What the model's answer says about itself (never its text)."""
    if not span.is_recording():
        return
    if turn.response_model:
        span.set_attribute("gen_ai.response.model", turn.response_model)
    if turn.response_id:
        span.set_attribute("gen_ai.response.id", turn.response_id)
    if turn.finish_reason:
        span.set_attribute("gen_ai.response.finish_reasons", [turn.finish_reason])
    if turn.tokens_in is not None:
        span.set_attribute("gen_ai.usage.input_tokens", turn.tokens_in)
    if turn.tokens_out is not None:
        span.set_attribute("gen_ai.usage.output_tokens", turn.tokens_out)


@contextmanager
def tool_call(name: str, call_id: str) -> Iterator[trace.Span]:
    with tracer.start_as_current_span(
        f"execute_tool {name}",
        attributes={
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": name,
            "gen_ai.tool.call.id": call_id,
        },
    ) as span:
        yield span
