"""A model's streamed answer (server-sent events) read as the JSON of each chunk.

The SDK's ``AsyncStream[ChatCompletionChunk]`` decoded the stream a line at a time in Python
and then built each chunk into pydantic models (``construct_type`` over every field): about
half of a streamed turn's model-path CPU at 200 streams (docs/BENCHMARKS.md, W3). This reads
the same events, splitting the body on line ends and ``json.loads`` of each event's data,
and hands the chunk's JSON to the caller, which reads the few fields a turn uses.

It keeps what the SDK's stream did: the request, retries and status errors stay the SDK's
(``post(..., stream=True, cast_to=httpx2.Response)`` hands back the response unread);
``[DONE]`` ends the stream (the rest of
the body drained, so the connection is reused); a chunk carrying ``error`` raises the SDK's
``APIError``; a transport failure mid-stream raises ``APITimeoutError`` or
``APIConnectionError``; data that is not JSON raises ``ValueError``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import httpx2
from openai import APIConnectionError, APIError, APITimeoutError

# The SDK's own lists of what a transport raises (httpx2's, and legacy httpx's if loaded),
# and its drain: mapped and drained exactly as its AsyncStream does.
from openai._httpx2 import request_exceptions, timeout_exceptions
from openai._streaming_cleanup import drain_response_async

Chunk = dict[str, Any]


async def chunks(response: httpx2.Response) -> AsyncGenerator[Chunk, None]:
    """Each chunk's JSON, until ``[DONE]`` or the body's end; the response closed after."""
    try:
        async for data in _data(response):
            if data.startswith(b"[DONE]"):
                # HTTP/1.1 needs the rest of the body read for the connection's reuse.
                if response.http_version == "HTTP/1.1":
                    await drain_response_async(response)
                break
            chunk = json.loads(data)
            if isinstance(chunk, dict) and chunk.get("error"):
                error = chunk["error"]
                message = error.get("message") if isinstance(error, dict) else None
                if not message or not isinstance(message, str):
                    message = "An error occurred during streaming"
                raise APIError(message=message, request=response.request, body=error)
            yield chunk
    finally:
        await response.aclose()


async def _data(response: httpx2.Response) -> AsyncIterator[bytes]:
    """Each event's data (its ``data:`` lines joined by newlines), as the SDK's decoder reads
    a stream: a blank line ends an event; comments and fields other than data are skipped;
    an event not ended by a blank line is dropped."""
    data: list[bytes] = []
    fields = False  # a data, event or retry field since the last event
    last_id = False  # the SDK's decoder keeps the last id: a blank line then always sends
    async for line in _lines(response):
        if not line:
            if fields or last_id:
                yield b"\n".join(data)
                data, fields = [], False
            continue
        if line[0] == 0x3A:  # ":", a comment
            continue
        name, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            data.append(value)
            fields = True
        elif name == b"id":
            last_id = bool(value) if b"\0" not in value else last_id
        elif name == b"event":
            fields = fields or bool(value)
        elif name == b"retry":
            fields = fields or value.isdigit()


async def _lines(response: httpx2.Response) -> AsyncIterator[bytes]:
    """The body's lines, ending in LF, CRLF or CR, a network read's worth at a time; a
    transport failure raised as the SDK's stream raised it."""
    buffer = b""
    try:
        async for chunk in response.aiter_bytes():
            buffer += chunk
            if b"\r" in buffer:
                # A CR at the end may be the first half of a CRLF: keep it for the next read.
                keep = buffer.endswith(b"\r")
                body = buffer[:-1] if keep else buffer
                lines = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
                buffer = lines.pop() + (b"\r" if keep else b"")
            else:
                lines = buffer.split(b"\n")
                buffer = lines.pop()
            for line in lines:
                yield line
    except timeout_exceptions() as err:
        raise APITimeoutError(request=response.request) from err
    except request_exceptions() as err:
        raise APIConnectionError(request=response.request) from err
    if buffer.endswith(b"\r"):
        yield buffer[:-1]  # the body's last line, ended by a CR
