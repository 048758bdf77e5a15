"""The model server's HTTP/1.1 transport against raw asyncio servers on loopback: answers whole,
streamed, ended by a close; connections kept or dropped; httpx's failures, as the SDK maps them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx2
import openai
import pytest
from openai import AsyncOpenAI

from agent_actors.errors import ResponderError, ResponderTimeout, ResponderUnavailable
from agent_actors.llm.completion import Completer, ModelCallFailed
from agent_actors.llm.model_http import ModelTransport, model_http_client
from agent_actors.streams.hub import StreamHub

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
ANSWER = {
    "id": "c1",
    "object": "chat.completion",
    "created": 0,
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi there"}}],
    "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6},
}


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return await reader.readexactly(length)


def json_answer(body: dict[str, object], close: bool = False) -> bytes:
    data = json.dumps(body).encode()
    extra = b"Connection: close\r\n" if close else b""
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s"
        % (extra, len(data), data)
    )


class Server:
    """A loopback server answering each request with ``handler``; counts its connections."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.bodies: list[dict[str, object]] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[tuple[Server, str]]:
    server = Server(handler)
    listener = await asyncio.start_server(server.serve, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        yield server, f"http://127.0.0.1:{port}/v1"
    finally:
        listener.close()


def completer(base_url: str, timeout_s: float = 5.0) -> Completer:
    client = AsyncOpenAI(
        base_url=base_url,
        api_key="k",
        timeout=timeout_s,
        max_retries=0,
        http_client=model_http_client(base_url),
    )
    return Completer(client, "m", {}, StreamHub())


async def keep_answering(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        body = json.loads(await read_request(reader))
        answer = {**ANSWER, "id": f"c{len(body['messages'])}"}
        writer.write(json_answer(answer))
        await writer.drain()


async def test_answers_come_through_the_sdk_on_one_kept_connection() -> None:
    async with serving(keep_answering) as (server, url):
        model = completer(url)
        hello = [{"role": "user", "content": "hello"}]
        first = await model.complete(hello, None)
        second = await model.complete([*hello, *hello], None)
    assert (first.content, first.response_id, first.tokens_in, first.tokens_out) == (
        "hi there",
        "c1",
        4,
        2,
    )
    assert second.response_id == "c2"
    assert server.connections == 1


async def test_a_streamed_answer_arrives_in_pieces_before_its_end() -> None:
    release = asyncio.Event()

    async def stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n")
        writer.write(b"Transfer-Encoding: chunked\r\n\r\n")
        for piece in (b"data: one\n\n", b"data: two\n\n"):
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            await release.wait()
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async with serving(stream) as (_, url):
        client = model_http_client(url)
        assert client is not None
        async with client.stream("POST", f"{url}/x", content=b"{}") as resp:
            pieces = resp.aiter_bytes()
            assert await anext(pieces) == b"data: one\n\n"  # before the server ends
            release.set()
            rest = [piece async for piece in pieces]
        await client.aclose()
    assert b"".join(rest) == b"data: two\n\n"


async def test_a_body_ended_by_closing_the_connection_is_read_whole() -> None:
    async def http10(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n")
        writer.write(json.dumps(ANSWER).encode())
        await writer.drain()
        writer.close()

    async with serving(http10) as (server, url):
        model = completer(url)
        hello = [{"role": "user", "content": "hello"}]
        assert (await model.complete(hello, None)).content == "hi there"
        assert (await model.complete(hello, None)).content == "hi there"
    assert server.connections == 2  # such a connection is never lent again


async def test_a_connection_closed_by_the_server_is_not_lent_again() -> None:
    async def once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(json_answer(ANSWER, close=True))
        await writer.drain()

    async with serving(once) as (server, url):
        model = completer(url)
        hello = [{"role": "user", "content": "hello"}]
        for _ in range(3):
            assert (await model.complete(hello, None)).content == "hi there"
    assert server.connections == 3


async def test_a_stream_left_before_its_end_drops_its_connection() -> None:
    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        await writer.drain()
        await reader.read()  # until the client hangs up

    async with serving(endless) as (server, url):
        transport = ModelTransport()
        client = httpx2.AsyncClient(transport=transport)
        for _ in range(2):
            async with client.stream("POST", f"{url}/x", content=b"{}") as resp:
                assert await anext(resp.aiter_bytes()) == b"first"
        await client.aclose()
    assert server.connections == 2


@pytest.mark.parametrize(
    ("handler", "error", "transient"),
    [
        # The server hangs up without a byte of answer.
        (read_request, ResponderUnavailable, True),
        # The server never answers: the read timeout.
        (lambda reader, _w: asyncio.sleep(5), ResponderTimeout, True),
    ],
)
async def test_failures_are_httpx_failures_as_the_sdk_maps_them(
    handler: Handler, error: type[Exception], transient: bool
) -> None:
    async with serving(handler) as (_, url):
        with pytest.raises(ModelCallFailed) as failed:
            await completer(url, timeout_s=0.3).complete([{"role": "user", "content": "x"}], None)
    assert isinstance(failed.value.error, error)
    assert failed.value.transient is transient
    cause = failed.value.__cause__
    assert isinstance(cause, openai.APIConnectionError)  # APITimeoutError is one too


async def test_no_server_is_a_connection_error() -> None:
    async with serving(read_request) as (_, url):
        pass  # closed: nothing listens on its port now
    with pytest.raises(ModelCallFailed) as failed:
        await completer(url).complete([{"role": "user", "content": "x"}], None)
    assert isinstance(failed.value.error, ResponderUnavailable)
    assert isinstance(failed.value.__cause__, openai.APIConnectionError)


async def test_garbage_is_an_answer_that_cannot_be_read() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        writer.write(b"Content-Length: 9\r\n\r\n{not json")
        await writer.drain()

    async with serving(garbage) as (_, url):
        with pytest.raises(ModelCallFailed) as failed:
            await completer(url).complete([{"role": "user", "content": "x"}], None)
    assert isinstance(failed.value.error, ResponderError)
    assert not failed.value.transient


def test_only_plain_http_without_a_proxy_takes_the_transport(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert model_http_client("https://api.openai.com/v1") is None
    assert model_http_client(None) is None
    assert model_http_client("http://127.0.0.1:11434/v1") is not None
    monkeypatch.setenv("all_proxy", "http://proxy.example:3128")
    assert model_http_client("http://model.internal:8000/v1") is None
    # A proxy set at all: httpx's transport decides NO_PROXY (urllib reads it otherwise).
    monkeypatch.setenv("no_proxy", "model.internal")
    assert model_http_client("http://model.internal:8000/v1") is None
    monkeypatch.delenv("all_proxy")
    monkeypatch.delenv("no_proxy")
    monkeypatch.setenv("http_proxy", "http://proxy.example:3128")
    assert model_http_client("http://model.internal:8000/v1") is None
