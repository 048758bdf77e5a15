"""The model's SSE stream read as JSON chunks (llm/model_stream.py), checked against the SDK's
own decoder on the same bytes, split at every place a network read may split them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import openai
import pytest
from openai._streaming import SSEDecoder

from agent_actors.llm.model_stream import chunks

BODIES = [
    b'data: {"a": 1}\n\ndata: {"b": "x\\ny"}\n\ndata: [DONE]\n\n',
    b'data: {"a": 1}\r\n\r\ndata:{"b":2}\r\n\r\n',
    b'data: {"a": 1}\r\rdata: {"b": 2}\r\r',
    b': a comment\n\nevent: chunk\nid: 7\ndata: {"a":\ndata: 1}\n\n',
    b'data: {"a": "caf\xc3\xa9"}\n\ndata: {"cut": true}',  # the last event never ended
]


def response(body: bytes, cuts: list[int]) -> httpx2.Response:
    async def parts() -> AsyncIterator[bytes]:
        start = 0
        for end in [*cuts, len(body)]:
            yield body[start:end]
            start = end

    return httpx2.Response(
        200, content=parts(), request=httpx2.Request("POST", "http://model/v1/chat/completions")
    )


async def read(resp: httpx2.Response) -> list[Any]:
    return [chunk async for chunk in chunks(resp)]


async def sdk(body: bytes) -> list[Any]:
    """What the SDK's AsyncStream yielded before its models: each event's JSON to [DONE]."""
    got = []
    async for sse in SSEDecoder().aiter_bytes(response(body, []).aiter_bytes()):
        if sse.data.startswith("[DONE]"):
            break
        got.append(json.loads(sse.data))
    return got


@pytest.mark.parametrize("body", BODIES)
async def test_every_split_reads_as_the_sdk_reads_the_whole(body: bytes) -> None:
    want = await sdk(body)
    assert want  # each body holds events
    for cut in range(len(body) + 1):
        assert await read(response(body, [cut])) == want, cut
    assert await read(response(body, list(range(1, len(body))))) == want  # a byte a read


async def test_a_chunk_with_an_error_raises_the_sdks_api_error() -> None:
    body = b'data: {"a": 1}\n\ndata: {"error": {"message": "overloaded"}}\n\n'
    stream = chunks(response(body, []))
    assert await anext(stream) == {"a": 1}
    with pytest.raises(openai.APIError, match="overloaded"):
        await anext(stream)


async def test_data_that_is_not_json_raises() -> None:
    with pytest.raises(json.JSONDecodeError):
        await read(response(b"data: {nope\n\n", []))


async def test_a_transport_failure_mid_stream_is_the_sdks_connection_error() -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b'data: {"a": 1}\n\n'
        raise httpx2.ReadError("reset")

    resp = httpx2.Response(200, content=broken(), request=httpx2.Request("POST", "http://m/"))
    with pytest.raises(openai.APIConnectionError):
        await read(resp)
    assert resp.is_closed


async def test_done_ends_the_stream_and_closes_the_response() -> None:
    resp = response(b'data: {"a": 1}\n\ndata: [DONE]\n\ndata: {"after": 1}\n\n', [])
    assert await read(resp) == [{"a": 1}]
    assert resp.is_closed
