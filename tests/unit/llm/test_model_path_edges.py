"""The model path's own transport and JSON reading behave as the SDK's httpx path did, at the
edges a review found them apart: a reset under a body, trailers, credentials, proxies, a
redirect to https, tool calls with missing fields."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import types

import httpx2
import pytest
from openai import AsyncOpenAI

from agent_actors.llm.completion import Completer, ModelCallFailed
from agent_actors.llm.model_http import ModelTransport, model_http_client
from agent_actors.streams.hub import StreamHub
from tests.unit.llm.test_model_http import ANSWER, read_request, serving

NOBODY = types.SimpleNamespace(stream_id=None, actor_id="a", seq=1)


def reset(writer: asyncio.StreamWriter) -> None:
    """Hang up with a TCP RST (a crashed server, a proxy's abort), not a FIN."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def sse(content: str) -> bytes:
    chunk = {
        "id": "s1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}],
    }
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


async def test_a_reset_mid_close_delimited_body_is_a_read_error_as_in_httpx() -> None:
    """httpx (httpcore) raises ReadError when the connection is reset under a body that ends
    with the connection; ModelTransport returns the truncated body as a complete 200."""

    async def truncated(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"partial": ')
        await writer.drain()
        await asyncio.sleep(0.05)
        reset(writer)

    async with serving(truncated) as (_, url):
        client = httpx2.AsyncClient(transport=ModelTransport())
        with pytest.raises(httpx2.TransportError):
            await client.post(f"{url}/x", content=b"{}")
        await client.aclose()


async def test_a_stream_cut_by_a_reset_is_not_committed_as_a_whole_answer() -> None:
    """Over the SDK's own client this turn fails (APIConnectionError, transient, retried);
    over ModelTransport it returns the first half of the answer as a finished reply."""

    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
        writer.write(sse("The answer is ") + sse("not"))
        await writer.drain()
        await asyncio.sleep(0.05)
        reset(writer)

    async with serving(cut) as (_, url):
        client = AsyncOpenAI(
            base_url=url, api_key="k", max_retries=0, http_client=model_http_client(url)
        )
        model = Completer(client, "m", {}, StreamHub())
        messages: list = [{"role": "user", "content": "x"}]
        with pytest.raises(ModelCallFailed) as failed:
            await model.stream(messages, None, NOBODY, False)  # type: ignore[arg-type]
        assert failed.value.transient  # retried, as the SDK's own client made it
        await client.close()


async def test_chunked_trailers_are_not_response_headers() -> None:
    """httpx drops trailer fields; ModelTransport appends them to the response's headers
    (httptools calls on_header for trailers into the same list the head was given)."""

    async def with_trailer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n")
        writer.write(b"2\r\nhi\r\n0\r\nX-T: trailer-value\r\n\r\n")
        await writer.drain()

    async with serving(with_trailer) as (_, url):
        client = httpx2.AsyncClient(transport=ModelTransport())
        resp = await client.post(f"{url}/x", content=b"{}")
        await client.aclose()
    assert resp.content == b"hi"
    assert "x-t" not in resp.headers


async def test_the_admin_key_is_never_sent_to_the_model_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """create() posts with security={"bearer_auth": True}; the bare post() takes
    FinalRequestOptions' default, which adds admin_api_key_auth: with an empty API key
    (AGENT_ACTORS_LLM__API_KEY="") and OPENAI_ADMIN_KEY in the environment, the
    organisation's admin key goes to the model server (create() raised TypeError instead)."""
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "admin-secret")
    heads: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        heads.append(head)
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)
        data = json.dumps(ANSWER).encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(data), data))
        await writer.drain()

    async with serving(answer) as (_, url):
        client = AsyncOpenAI(
            base_url=url, api_key="", max_retries=0, http_client=model_http_client(url)
        )
        with contextlib.suppress(ModelCallFailed):
            await Completer(client, "m", {}, StreamHub()).complete(
                [{"role": "user", "content": "x"}], None
            )
        await client.close()
    # No request at all (the SDK refuses an empty key, as create() did), or none with it.
    assert not any(b"admin-secret" in head for head in heads)


def test_no_proxy_with_a_leading_dot_decides_as_httpx_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """NO_PROXY=.ollama: httpx proxies http://ollama:11434 ("all://*.ollama" needs a
    subdomain); urllib.proxy_bypass strips the dot and bypasses it, so the app's transport
    goes direct where the SDK's client went through the proxy."""
    for name in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", "http://proxy.example:3128")
    monkeypatch.setenv("no_proxy", ".ollama")
    assert model_http_client("http://ollama:11434/v1") is None


async def test_a_tool_call_without_an_id_or_with_object_arguments_is_read() -> None:
    """A tool call without "id", or with arguments as a JSON object (some servers), is read
    with an empty id and its arguments as JSON text: it gave None or a dict to the code after
    the read, an AttributeError out of the completer."""
    answer = {
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"type": "function", "function": {"name": "f", "arguments": {"a": 1}}}
                    ],
                },
            }
        ]
    }

    async def once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        data = json.dumps(answer).encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(data), data))
        await writer.drain()

    async with serving(once) as (_, url):
        client = AsyncOpenAI(
            base_url=url, api_key="k", max_retries=0, http_client=model_http_client(url)
        )
        try:
            turn = await Completer(client, "m", {}, StreamHub()).complete(
                [{"role": "user", "content": "x"}], None
            )
        finally:
            await client.close()
    (call,) = turn.tool_calls
    assert (call.id, call.name, json.loads(call.arguments)) == ("", "f", {"a": 1})


async def test_a_redirect_to_https_goes_through_httpx_transport(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The SDK's client follows redirects; one from the plain-HTTP server to https went to
    ModelTransport, which speaks no TLS (UnsupportedProtocol, retried in vain)."""
    seen: list[str] = []

    class Fallback(httpx2.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
            seen.append(str(request.url))
            return httpx2.Response(200, content=b"over tls")

    monkeypatch.setattr(httpx2, "AsyncHTTPTransport", Fallback)
    transport = ModelTransport()
    client = httpx2.AsyncClient(transport=transport)
    resp = await client.get("https://model.example/v1/x")
    await client.aclose()
    assert (resp.content, seen) == (b"over tls", ["https://model.example/v1/x"])
