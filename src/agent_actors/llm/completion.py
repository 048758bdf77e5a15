"""One request to an OpenAI-compatible server, plain or streamed, read into a ``ModelTurn``.

Failures come out as domain errors, tagged transient or not (``ModelCallFailed``), so the
caller decides about retries without knowing the SDK's exception tree.
"""

from __future__ import annotations

import email.utils
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx2
import openai
from openai import AsyncOpenAI
from openai._types import RequestOptions

from agent_actors.errors import (
    AgentActorsError,
    ResponderError,
    ResponderTimeout,
    ResponderUnavailable,
)
from agent_actors.llm.model_stream import chunks
from agent_actors.models import as_unicode_text
from agent_actors.streams.hub import StreamHub, StreamTarget

Message = dict[str, Any]


@dataclass
class RequestedCall:
    id: str
    name: str
    arguments: str


@dataclass
class ModelTurn:
    content: str = ""
    tool_calls: list[RequestedCall] = field(default_factory=list)
    tokens_in: int | None = None
    tokens_out: int | None = None
    streamed_text: bool = False
    # For the model call's span (GenAI conventions): why the model stopped, who answered.
    finish_reason: str | None = None
    response_model: str | None = None
    response_id: str | None = None


def as_unicode_turn(turn: ModelTurn) -> ModelTurn:
    """The answer with every lone surrogate its JSON carried ("\\ud800") replaced by U+FFFD,
    in the text and in each tool call, as a reply is cleaned before it is saved: UTF-8 cannot
    carry one, so a paused call's arguments made the 202 and the turn's state a 500, the tool's
    validation refused them, and the next request's prompt could not be sent."""
    turn.content = as_unicode_text(turn.content)
    for call in turn.tool_calls:
        call.id, call.name = as_unicode_text(call.id), as_unicode_text(call.name)
        call.arguments = as_unicode_text(call.arguments)
    return turn


class ModelCallFailed(Exception):
    def __init__(
        self, error: AgentActorsError, transient: bool, retry_after_s: float | None = None
    ) -> None:
        super().__init__(error.message)
        self.error = error
        self.transient = transient
        self.retry_after_s = retry_after_s  # how long the server asked to wait, if it did


def retry_after_s(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """The wait a model server asks for: ``retry-after-ms`` (OpenAI's), else ``Retry-After``
    in seconds or as an HTTP date; None when it asks for none (or says it unreadably)."""
    try:
        if (ms := headers.get("retry-after-ms")) is not None:
            return max(0.0, float(ms) / 1000)
        if (value := headers.get("retry-after")) is None:
            return None
        try:
            seconds = float(value)
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            seconds = (when - (now or datetime.now(UTC))).total_seconds()
    except (TypeError, ValueError):
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def classify(exc: BaseException) -> ModelCallFailed:
    """Map what the SDK raised to the caller's 5xx, and whether a retry may help."""
    if isinstance(exc, openai.APITimeoutError):
        return ModelCallFailed(ResponderTimeout("the model did not answer in time"), True)
    if isinstance(exc, openai.APIConnectionError):
        return ModelCallFailed(ResponderUnavailable("the model server cannot be reached"), True)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        said = f"the model server answered {status}: {str(exc.message)[:200]}"
        wait = retry_after_s(exc.response.headers)
        if status == 429 or status in (502, 503):
            return ModelCallFailed(ResponderUnavailable(said), True, wait)
        if status == 504:
            return ModelCallFailed(ResponderTimeout(said), True, wait)
        return ModelCallFailed(ResponderError(said), status >= 500 or status == 408, wait)
    if isinstance(exc, AgentActorsError):
        return ModelCallFailed(exc, False)
    # Garbage where JSON was expected, a stream cut short with a decode error, and the like.
    return ModelCallFailed(
        ResponderError(f"the model server's answer could not be read: {type(exc).__name__}"),
        False,
    )


# The chat completions path, relative to the client's base URL (as the SDK's own create posts).
# The key the SDK's own create() sends (its bearer auth): a bare post() would let the SDK add
# any other credential it finds in the environment (OPENAI_ADMIN_KEY) to the model server.
BEARER_ONLY: RequestOptions = {"security": {"bearer_auth": True}}
COMPLETIONS = "/chat/completions"


class Completer:
    def __init__(
        self, client: AsyncOpenAI, model: str, options: dict[str, Any], streams: StreamHub
    ) -> None:
        self._client = client
        self._model = model
        self._options = options
        self._streams = streams

    async def complete(
        self, messages: list[Message], tools: list[dict[str, Any]] | None
    ) -> ModelTurn:
        try:
            # The answer's JSON as it is (``read_completion``), not built into the SDK's
            # ChatCompletion: its loose construction walked every field of the answer, a
            # quarter of the SDK's CPU per request (docs/BENCHMARKS.md, W1-model).
            resp = await self._client.post(
                COMPLETIONS,
                body=self._body(messages, tools),
                cast_to=httpx2.Response,
                options=BEARER_ONLY,
            )
            turn = read_completion(json.loads(resp.content))
        except Exception as exc:
            raise classify(exc) from exc
        return as_unicode_turn(turn)

    async def stream(
        self,
        messages: list[Message],
        tools: list[dict[str, Any]] | None,
        to: StreamTarget,
        usage: bool,
    ) -> ModelTurn:
        turn = ModelTurn()
        parts: list[str] = []
        calls: dict[int, RequestedCall] = {}
        extra: dict[str, Any] = {"stream_options": {"include_usage": True}} if usage else {}
        try:
            # The response unread, its chunks read as JSON (``model_stream``), not built into
            # the SDK's ChatCompletionChunk: half of a streamed turn's model-path CPU (W3).
            resp = await self._client.post(
                COMPLETIONS,
                body={**self._body(messages, tools), "stream": True, **extra},
                cast_to=httpx2.Response,
                stream=True,
                options=BEARER_ONLY,
            )
            stream = chunks(resp)
            try:
                async for chunk in stream:
                    turn.response_model, turn.response_id = chunk.get("model"), chunk.get("id")
                    if (used := chunk.get("usage")) is not None:
                        turn.tokens_in = used.get("prompt_tokens")
                        turn.tokens_out = used.get("completion_tokens")
                    for choice in chunk.get("choices") or ():
                        turn.finish_reason = choice.get("finish_reason") or turn.finish_reason
                        delta = choice.get("delta") or {}
                        if text := delta.get("content"):
                            parts.append(text)
                            turn.streamed_text = True
                            self._streams.token(to, text)
                        for tc in delta.get("tool_calls") or ():
                            merge_tool_delta(calls, tc)
            finally:
                await stream.aclose()  # and so the response, when the loop stops early
        except ModelCallFailed:
            raise
        except Exception as exc:
            raise classify(exc) from exc
        # The answer's tokens are in the turn's log before the reply can be committed.
        await self._streams.settle(to)
        turn.content = "".join(parts)
        turn.tool_calls = [calls[i] for i in sorted(calls)]
        return as_unicode_turn(turn)

    def _body(self, messages: list[Message], tools: list[dict[str, Any]] | None) -> dict[str, Any]:
        """The request body as the wire has it. Posted as it is: ``chat.completions.create``
        first walks it against the SDK's TypedDicts (``_transform``), which cost about 2 ms of
        the app's one core per request for a 12-message prompt with a tool, a quarter of a
        delegated turn's CPU (docs/BENCHMARKS.md, W8), and changes nothing in a body that is
        already plain JSON."""
        body: dict[str, Any] = {"model": self._model, "messages": messages, **self._options}
        if tools:
            body["tools"] = tools
        return body


def read_completion(answer: Any) -> ModelTurn:
    """A chat completion's JSON read into a ``ModelTurn``, as loosely as the SDK read it: what
    is missing stays empty; an answer without choices is the server's error."""
    choices = answer.get("choices") if isinstance(answer, dict) else None
    if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
        raise ResponderError("the model server's answer has no choices")
    message = choices[0].get("message") or {}
    turn = ModelTurn(
        content=message.get("content") or "",
        finish_reason=choices[0].get("finish_reason"),
        response_model=answer.get("model"),
        response_id=answer.get("id"),
    )
    for tc in message.get("tool_calls") or []:
        function = tc.get("function")
        if function is not None:
            arguments = function.get("arguments")
            turn.tool_calls.append(
                RequestedCall(
                    str(tc.get("id") or ""),
                    str(function.get("name") or ""),
                    # a JSON string, as the protocol says; an object some servers send instead
                    arguments if isinstance(arguments, str) else json.dumps(arguments or {}),
                )
            )
    if (usage := answer.get("usage")) is not None:
        turn.tokens_in, turn.tokens_out = usage.get("prompt_tokens"), usage.get("completion_tokens")
    return turn


def merge_tool_delta(calls: dict[int, RequestedCall], delta: dict[str, Any]) -> None:
    """Streamed tool calls arrive in pieces keyed by index: the id and name once (some servers
    repeat them), the arguments as fragments to concatenate."""
    slot = calls.setdefault(delta["index"], RequestedCall("", "", ""))
    if call_id := delta.get("id"):
        slot.id = call_id
    function = delta.get("function")
    if function is None:
        return
    name = function.get("name")
    if name and name != slot.name:
        slot.name += name
    if arguments := function.get("arguments"):
        slot.arguments += arguments
