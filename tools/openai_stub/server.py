"""A deterministic OpenAI-compatible chat-completions server for tests and benchmarks.

It speaks ``POST /v1/chat/completions`` (plain and ``stream: true`` SSE, tool calls included)
and answers from the conversation's current user message (the last user message that is not
the service's repair note): by default ``stub reply to: <message>``. Markers in that message
pick a behaviour per request, so concurrent tests never disturb each other:

    [[delay:1.5]]            wait before answering (default: --delay, or POST /_control)
    [[then_delay:3]]         wait before answering only once a tool result is in the prompt
                             (the answer after a tool step: a test can kill the app then)
    [[token_delay:0.1]]      stream a token every 0.1 s (paced from the stream's start, so
                             N tokens take N x 0.1 s however busy the server is)
    [[fail500]] [[fail503]] [[fail429]]   answer with that status
    [[flaky:2]]              fail 503 the first 2 times this message is seen, then answer
    [[hang]]                 never answer (until --hang seconds pass)
    [[garbage]]              a 200 whose body is not JSON
    [[empty]]                an empty answer
    [[tool:NAME]] / [[tool:NAME:QUERY]]  call tool NAME (QUERY -> {"query": QUERY}; a QUERY
                             starting with "{" is the arguments' JSON as it is), then,
                             once the tool result is in the prompt, answer with it
    [[tools:NAME|NAME:QUERY]]  call several tools in one answer (each as [[tool:…]] has
                             it), then, once every result is in the prompt, answer with them
    [[tool_loop]]            call current_time forever
    [[bad_tool_name]]        always call a tool that does not exist
    [[bad_tool_args]]        always call search_history with arguments that are not JSON
    [[bad_tool_once]]        call an unknown tool once; after the repair note, answer
    [[verbatim]]             answer with the message itself (markers removed)
    [[long:N]]               answer with N characters ("x")
    [[long:N:TEXT]]          answer with N characters of TEXT repeated ("[[long:8000:😀]]":
                             8,000 emoji, 12 bytes each in an actor payload)
    [[surrogate]]            answer with text holding a lone surrogate ("\\ud800" in the JSON);
                             with [[tool:…]], put "half a pair: \\ud800 " before each string
                             value of the call's arguments (a lone surrogate in their text)

Without a marker, the mode set by ``POST /_control {"mode": "fail503"}`` applies (default ok).
Every request is recorded (``GET /_requests``, ``POST /_reset``), with start and end times so
tests can check which requests overlapped.

    python -m tools.openai_stub.server --port 8099 --delay 0.5
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from tools.background_server import BackgroundServer

MARKER = re.compile(r"\[\[(\w+)(?::([^\]]*))?\]\]")
REPAIR_PREFIX = "Your previous answer could not be used"
FAILURES = {"fail500": 500, "fail503": 503, "fail429": 429}


@dataclass
class Recorded:
    n: int
    started: float
    ended: float | None
    stream: bool
    text: str
    repair: bool
    tool_results: int
    tools: list[str]
    messages: list[dict[str, Any]]
    functions: list[dict[str, Any]]  # the tools' specs as sent (name, description, parameters)
    authorization: str | None
    status: int = 200
    # The rest of the body as sent: model, temperature, max_tokens, stream, ...
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class StubState:
    delay: float = 0.0
    token_delay: float = 0.0
    hang_s: float = 120.0
    mode: str = ""
    requests: list[Recorded] = field(default_factory=list)
    seen: dict[str, int] = field(default_factory=dict)
    counter: itertools.count[int] = field(default_factory=itertools.count)


@dataclass
class Answer:
    status: int = 200
    content: str = ""
    tools: list[tuple[str, str]] = field(default_factory=list)  # (name, arguments) each
    garbage: bool = False


def current_message(messages: list[dict[str, Any]]) -> tuple[str, bool, int]:
    """The current user message, whether a repair note follows it, and tool results since."""
    repair, tool_results = False, 0
    for message in reversed(messages):
        role, content = message.get("role"), message.get("content") or ""
        if role == "tool":
            tool_results += 1
        elif role == "user" and str(content).startswith(REPAIR_PREFIX):
            repair = True
        elif role == "user":
            return str(content), repair, tool_results
    return "", repair, tool_results


def arguments(query: str) -> str:
    return query if query.startswith("{") else json.dumps({"query": query} if query else {})


def decide(
    state: StubState, text: str, repair: bool, tool_results: int, results: list[str]
) -> Answer:
    last_tool = results[-1] if results else ""
    markers = {m.group(1): m.group(2) for m in MARKER.finditer(text)}
    if not markers and state.mode:
        markers = {m.group(1): m.group(2) for m in MARKER.finditer(f"[[{state.mode}]]")}
    clean = MARKER.sub("", text).strip()
    for name, status in FAILURES.items():
        if name in markers:
            return Answer(status=status)
    if "flaky" in markers:
        state.seen[text] = state.seen.get(text, 0) + 1
        if state.seen[text] <= int(markers["flaky"] or 1):
            return Answer(status=503)
    if "garbage" in markers:
        return Answer(garbage=True)
    if "empty" in markers:
        return Answer(content="")
    if "bad_tool_name" in markers or ("bad_tool_once" in markers and not repair):
        return Answer(tools=[("no_such_tool", "{}")])
    if "bad_tool_args" in markers:
        return Answer(tools=[("search_history", '{"query": ')])
    if "tool_loop" in markers:
        return Answer(tools=[("current_time", "{}")])
    if "tool" in markers:
        name, _, query = (markers["tool"] or "").partition(":")
        if tool_results == 0:
            raw = arguments(query)
            if "surrogate" in markers:
                raw = with_lone_surrogates(raw)
            return Answer(tools=[(name, raw)])
        return Answer(content=f"tool {name} said: {last_tool}")
    if "tools" in markers:
        asked = [c.partition(":") for c in (markers["tools"] or "").split("|")]
        if tool_results < len(asked):
            return Answer(tools=[(name, arguments(query)) for name, _, query in asked])
        return Answer(content=f"tools said: {' | '.join(results[-len(asked) :])}")
    if "verbatim" in markers:
        return Answer(content=clean)
    if "long" in markers:
        count, _, text = (markers["long"] or "1").partition(":")
        return Answer(content=((text or "x") * int(count))[: int(count)])
    if "surrogate" in markers:
        return Answer(content=f"half a pair: \ud800 {clean}")
    return Answer(content=f"stub reply to: {clean}")


def with_lone_surrogates(arguments: str) -> str:
    """The arguments with "half a pair: \\ud800 " before each string value; ensure_ascii=False
    keeps the surrogate a character of the arguments' text (the answer's JSON escapes it)."""
    values = json.loads(arguments)
    marked = {k: f"half a pair: \ud800 {v}" if isinstance(v, str) else v for k, v in values.items()}
    return json.dumps(marked, ensure_ascii=False)


def tokens(text: str) -> list[str]:
    return re.findall(r"\s*\S+", text) or ([text] if text else [])


def completion(answer: Answer, model: str, prompt_tokens: int) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": answer.content or None}
    if answer.tools:
        message["tool_calls"] = [tool_call(i, t) for i, t in enumerate(answer.tools)]
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if answer.tools else "stop",
            }
        ],
        "usage": usage(prompt_tokens, len(tokens(answer.content)) + len(answer.tools)),
    }


def tool_call(index: int, tool: tuple[str, str]) -> dict[str, Any]:
    return {
        "id": f"call_stub_{index + 1}",
        "type": "function",
        "function": {"name": tool[0], "arguments": tool[1]},
    }


def usage(prompt: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt + completion_tokens,
    }


def chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> str:
    body = {
        "id": "chatcmpl-stub",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n"


async def stream_answer(
    answer: Answer, model: str, prompt_tokens: int, with_usage: bool, token_delay: float
) -> AsyncIterator[str]:
    if answer.garbage:
        yield "data: {this is not json\n\n"
        return
    yield chunk(model, {"role": "assistant", "content": ""})
    pieces = tokens(answer.content)
    # Token i is due token_delay x i after the start, not token_delay after token i-1: a sleep
    # after each write adds the write's time (and the wait for the CPU) to every token, and at
    # 1,000 streams at once 20 tokens of 0.1 s took 2.5 s instead of 2 (bench W3).
    start = asyncio.get_running_loop().time()
    for i, piece in enumerate(pieces, 1):
        if token_delay:
            await asyncio.sleep(start + i * token_delay - asyncio.get_running_loop().time())
        yield chunk(model, {"content": piece})
    for index, (name, raw) in enumerate(answer.tools):
        half = len(raw) // 2
        first = {
            "index": index,
            "id": f"call_stub_{index + 1}",
            "type": "function",
            "function": {"name": name, "arguments": raw[:half]},
        }
        yield chunk(model, {"tool_calls": [first]})
        rest = {"index": index, "function": {"arguments": raw[half:]}}
        yield chunk(model, {"tool_calls": [rest]})
    yield chunk(model, {}, "tool_calls" if answer.tools else "stop")
    if with_usage:
        body = {
            "id": "chatcmpl-stub",
            "object": "chat.completion.chunk",
            "model": model,
            "created": int(time.time()),
            "choices": [],
            "usage": usage(prompt_tokens, len(pieces) + len(answer.tools)),
        }
        yield f"data: {json.dumps(body)}\n\n"
    yield "data: [DONE]\n\n"


async def wait_unless_gone(request: Request, seconds: float) -> None:
    """Sleep, but stop once the client has hung up (a hung request must not outlive it)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        await asyncio.sleep(min(left, 0.1))
        if seconds > 1 and await request.is_disconnected():
            raise asyncio.CancelledError


async def chat_completions(request: Request) -> Response:
    state: StubState = request.app.state.stub
    body = await request.json()
    messages = body.get("messages") or []
    text, repair, tool_results = current_message(messages)
    # The tool results in the prompt, in order (the newest last).
    results = [str(m.get("content")) for m in messages if m.get("role") == "tool"]
    record = Recorded(
        n=next(state.counter),
        started=time.monotonic(),
        ended=None,
        stream=bool(body.get("stream")),
        text=text,
        repair=repair,
        tool_results=tool_results,
        tools=[t["function"]["name"] for t in body.get("tools") or []],
        messages=messages,
        functions=[t["function"] for t in body.get("tools") or []],
        authorization=request.headers.get("authorization"),
        params={k: v for k, v in body.items() if k not in ("messages", "tools")},
    )
    state.requests.append(record)
    markers = dict((m.group(1), m.group(2)) for m in MARKER.finditer(text))
    try:
        delay = float(markers["delay"]) if "delay" in markers else state.delay
        if "then_delay" in markers and tool_results:
            delay = float(markers["then_delay"] or 0)
        hang = "hang" in markers or state.mode == "hang"
        await wait_unless_gone(request, state.hang_s if hang else delay)
        answer = decide(state, text, repair, tool_results, results)
    except asyncio.CancelledError:
        record.ended, record.status = time.monotonic(), 499
        return Response(status_code=499)
    record.status = answer.status
    model = str(body.get("model") or "stub")
    prompt_tokens = sum(len(str(m.get("content") or "").split()) for m in messages)
    if answer.status != 200:
        record.ended = time.monotonic()
        error = {"error": {"message": f"stub failure {answer.status}", "type": "stub_error"}}
        return JSONResponse(error, status_code=answer.status)
    if record.stream:
        with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        token_delay = float(markers.get("token_delay") or state.token_delay)

        async def events() -> AsyncIterator[str]:
            try:
                async for event in stream_answer(
                    answer, model, prompt_tokens, with_usage, token_delay
                ):
                    yield event
            finally:
                record.ended = time.monotonic()

        return StreamingResponse(events(), media_type="text/event-stream")
    record.ended = time.monotonic()
    if answer.garbage:
        return Response("{this is not json", media_type="application/json")
    # json.dumps escapes to ASCII (JSONResponse would fail to encode a lone surrogate).
    body = json.dumps(completion(answer, model, prompt_tokens))
    return Response(body, media_type="application/json")


async def control(request: Request) -> Response:
    state: StubState = request.app.state.stub
    for key, value in (await request.json()).items():
        if key in ("delay", "token_delay", "hang_s"):
            setattr(state, key, float(value))
        elif key == "mode":
            state.mode = str(value or "")
    return JSONResponse(
        {"delay": state.delay, "token_delay": state.token_delay, "mode": state.mode}
    )


async def requests_(request: Request) -> Response:
    state: StubState = request.app.state.stub
    return JSONResponse(
        [
            {k: v for k, v in asdict(r).items() if k not in ("messages", "functions")}
            for r in state.requests
        ]
    )


async def reset(request: Request) -> Response:
    state: StubState = request.app.state.stub
    state.requests.clear()
    state.seen.clear()
    return JSONResponse({"ok": True})


def build_app(state: StubState | None = None) -> Starlette:
    app = Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/_control", control, methods=["POST"]),
            Route("/_requests", requests_, methods=["GET"]),
            Route("/_reset", reset, methods=["POST"]),
        ]
    )
    app.state.stub = state or StubState()
    return app


class StubServer(BackgroundServer):
    """Runs the stub in a background thread on 127.0.0.1 (a free port unless one is given)."""

    def __init__(self, port: int = 0, delay: float = 0.0, hang_s: float = 120.0) -> None:
        self.state = StubState(delay=delay, hang_s=hang_s)
        super().__init__(build_app(self.state), "openai-stub", port)

    @property
    def url(self) -> str:
        return f"{self.origin}/v1"

    def requests(self, containing: str = "") -> list[Recorded]:
        return [r for r in list(self.state.requests) if containing in r.text]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--token-delay", type=float, default=0.0, help="seconds between chunks")
    parser.add_argument("--hang", type=float, default=120.0, help="how long [[hang]] hangs")
    args = parser.parse_args()
    state = StubState(delay=args.delay, token_delay=args.token_delay, hang_s=args.hang)
    uvicorn.run(
        build_app(state), host=args.host, port=args.port, log_level="warning", lifespan="off"
    )


if __name__ == "__main__":
    main()
