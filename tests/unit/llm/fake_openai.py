"""A fake OpenAI server behind ``httpx.MockTransport``: scripted answers, recorded requests."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from openai import AsyncOpenAI

from agent_actors.llm.mcp_tools import ToolCatalog
from agent_actors.llm.openai_client import OpenAIResponder, Pauses
from agent_actors.settings import LlmSettings
from agent_actors.streams.hub import StreamHub

Answer = Callable[[dict[str, Any]], Awaitable[httpx.Response]]


def message(content: str | None, tool_calls: list[dict[str, Any]] | None = None) -> httpx.Response:
    msg: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        msg["tool_calls"] = tool_calls
    return httpx.Response(
        200,
        json={
            "id": "c1",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [{"index": 0, "message": msg, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
        },
    )


def tool(name: str, arguments: str, call_id: str = "call_1") -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def streamed(pieces: list[str]) -> httpx.Response:
    def chunk(delta: dict[str, Any], usage: dict[str, int] | None = None) -> str:
        body: dict[str, Any] = {
            "id": "c1",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": None}] if delta else [],
        }
        if usage:
            body["usage"] = usage
        return f"data: {json.dumps(body)}\n\n"

    text = "".join(chunk({"content": p}) for p in pieces)
    text += chunk({}, {"prompt_tokens": 5, "completion_tokens": len(pieces), "total_tokens": 9})
    return httpx.Response(
        200, text=text + "data: [DONE]\n\n", headers={"content-type": "text/event-stream"}
    )


class FakeModel:
    """Answers each request with the next scripted answer (the last one repeats)."""

    def __init__(self, *answers: httpx.Response | Answer | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[dict[str, Any]] = []

    async def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return await answer(body) if callable(answer) else answer

    def responder(
        self,
        hub: StreamHub | None = None,
        tools: ToolCatalog | None = None,
        pauses: Pauses | None = None,
        **settings: Any,
    ) -> OpenAIResponder:
        llm = LlmSettings(**{"model": "m", "retry_backoff_s": 0, **settings})
        client = AsyncOpenAI(
            api_key="k",
            base_url="http://model.test/v1",
            max_retries=0,
            http_client=httpx.AsyncClient(transport=httpx.MockTransport(self.handle)),
        )
        return OpenAIResponder(
            llm, client, tools=tools, streams=hub or StreamHub(), pauses=pauses or Pauses()
        )
