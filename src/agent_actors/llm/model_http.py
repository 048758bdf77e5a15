"""The HTTP/1.1 transport ``AsyncOpenAI`` talks to a plain-HTTP model server through (a local
Ollama, vLLM, llama.cpp, the stub): keep-alive connections, responses parsed by httptools
(uvicorn's C parser), bodies streamed as they come.

Why not httpx's own transport (httpcore over anyio, h11): it cost about 2 ms of the app's one
core per model request, most of a model turn's extra CPU over an offline one (W1-model,
docs/BENCHMARKS.md): some two thousand Python calls per request, and before each request and
after each response the pool probes every idle connection's socket (64 users: 64 probes).
Here the event loop's own callbacks tell a connection that its server hung up, so nothing is
probed. Only the transport changes: the SDK still builds the request and reads the answer,
retries and streams as before, and the failures are httpx's (``ConnectError``,
``ReadTimeout``, ``RemoteProtocolError``, ...), which the SDK maps as it always did.

HTTPS, and plain HTTP through a proxy, stay on httpx's transport (``model_http_client``):
TLS and proxies are not done here.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections import deque
from collections.abc import AsyncIterator
from typing import cast
from urllib.parse import urlsplit

import httptools
import httpx2
from openai import DefaultAsyncHttpxClient

# As httpx's defaults in the SDK (openai._constants.DEFAULT_CONNECTION_LIMITS, keep-alive
# expiry): at most this many connections at once, this many kept idle, for this long.
MAX_CONNECTIONS = 1000
MAX_IDLE = 100
IDLE_S = 5.0
FRAMING = (b"content-length", b"transfer-encoding")


def model_http_client(base_url: str | None) -> httpx2.AsyncClient | None:
    """The SDK's HTTP client over ``ModelTransport`` for a plain-HTTP server reached without
    a proxy; None (the SDK's own client) otherwise."""
    if not base_url:
        return None
    url = urlsplit(base_url)
    # Any proxy for plain HTTP at all: httpx's transport, which decides NO_PROXY its own way
    # (urllib's reading of it differs, e.g. on a leading dot).
    proxies = urllib.request.getproxies()  # httpx reads the same variables (trust_env)
    if url.scheme != "http" or "http" in proxies or "all" in proxies:
        return None
    return DefaultAsyncHttpxClient(transport=ModelTransport())


class _Connection(asyncio.Protocol):
    """One keep-alive connection, lent to one exchange at a time: the answer's head as a
    future, its body as chunks in a queue (None once it ended)."""

    def __init__(self, key: tuple[str, int]) -> None:
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.keep_alive = True
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._head: asyncio.Future[tuple[int, list[tuple[bytes, bytes]]]] | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._chunks: asyncio.Queue[bytes | Exception | None] = asyncio.Queue()
        self._until_close = False  # a body ended by the server closing the connection
        self.complete = True  # the current answer was read to its end

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(httpx2.RemoteProtocolError(f"malformed response: {exc}"))
            self.close()

    def eof_received(self) -> bool | None:
        self.closed = True  # never lent again
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._until_close and not self.complete and exc is None:  # such a body ends here
            self.complete, self.keep_alive = True, False
            self._chunks.put_nowait(None)
            return
        if exc is not None and self._head is None:  # cut mid-body (a reset): not its end
            self._fail(httpx2.ReadError(f"the model server's connection was lost: {exc!r}"))
            return
        self._fail(httpx2.RemoteProtocolError("Server disconnected without sending a response."))

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._headers = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200:
            return  # an interim answer (100 Continue, 103): the final one follows
        names = {name.lower() for name, _ in self._headers}
        self._until_close = b"content-length" not in names and b"transfer-encoding" not in names
        head, self._head = self._head, None
        if head is not None and not head.done():
            head.set_result((status, self._headers))
        self._headers = []  # a chunked body's trailers are not the answer's headers

    def on_body(self, body: bytes) -> None:
        self._chunks.put_nowait(body)

    def on_message_complete(self) -> None:
        if self._parser.get_status_code() < 200:
            return
        self.keep_alive = self._parser.should_keep_alive()
        self.complete = True
        self._chunks.put_nowait(None)

    def _fail(self, exc: Exception) -> None:
        head, self._head = self._head, None
        if head is not None and not head.done():
            head.set_exception(exc)
        elif not self.complete:
            self.complete = True
            self._chunks.put_nowait(exc)

    def send(self, request: bytes) -> asyncio.Future[tuple[int, list[tuple[bytes, bytes]]]]:
        assert self.transport is not None
        self._head = asyncio.get_running_loop().create_future()
        self._chunks = asyncio.Queue()
        self.complete, self._until_close = False, False
        self.transport.write(request)
        return self._head

    async def chunk(self) -> bytes | None:
        """The body's next piece; None at its end."""
        got = await self._chunks.get()
        if isinstance(got, Exception):
            raise got
        return got

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class _Body(httpx2.AsyncByteStream):
    """An answer's body as it comes; the connection goes back to the pool once it was read
    to its end, else it is closed (its rest would be read as the next answer's)."""

    def __init__(self, pool: ModelTransport, conn: _Connection, read_s: float | None) -> None:
        self._pool, self._conn, self._read_s = pool, conn, read_s
        self._done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while not self._done:
            try:
                async with asyncio.timeout(self._read_s):
                    piece = await self._conn.chunk()
            except TimeoutError as exc:
                await self.aclose()
                raise httpx2.ReadTimeout("no data from the model server in time") from exc
            except BaseException:
                await self.aclose()
                raise
            if piece is None:
                await self.aclose()
                return
            yield piece

    async def aclose(self) -> None:
        if not self._done:
            self._done = True
            self._pool.give_back(self._conn)


class ModelTransport(httpx2.AsyncBaseTransport):
    """httpx's transport interface over ``_Connection``s, per host and port."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, int], deque[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._slots = asyncio.Semaphore(MAX_CONNECTIONS)
        self._idle_count = 0
        self._fallback: httpx2.AsyncHTTPTransport | None = None

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        if url.scheme != "http":  # a redirect to https: httpx's transport, as before
            if self._fallback is None:
                self._fallback = httpx2.AsyncHTTPTransport()
            return await self._fallback.handle_async_request(request)
        timeouts = request.extensions.get("timeout") or {}
        key = (url.host, url.port or 80)
        body = await request.aread()
        head = b"%s %s HTTP/1.1\r\n" % (request.method.encode(), url.raw_path)
        # The body goes whole, so with its length (never chunked, as a streamed one would be).
        lines = b"".join(
            b"%s: %s\r\n" % (name, value)
            for name, value in request.headers.raw
            if name.lower() not in FRAMING
        )
        lines += b"Content-Length: %d\r\n" % len(body)
        try:
            async with asyncio.timeout(timeouts.get("pool")):
                await self._slots.acquire()
        except TimeoutError as exc:
            raise httpx2.PoolTimeout("no connection to the model server free in time") from exc
        conn: _Connection | None = None
        try:
            conn = self._reuse(key) or await self._connect(key, timeouts.get("connect"))
            answer = conn.send(b"%s%s\r\n%s" % (head, lines, body))
            try:
                async with asyncio.timeout(timeouts.get("read")):
                    status, headers = await answer
            except TimeoutError as exc:
                raise httpx2.ReadTimeout("no answer from the model server in time") from exc
        except BaseException:
            if conn is not None:
                conn.complete = False  # give_back closes it
                self.give_back(conn)
            else:
                self._slots.release()
            raise
        return httpx2.Response(
            status,
            headers=headers,
            stream=_Body(self, conn, timeouts.get("read")),
            extensions={"http_version": b"HTTP/1.1"},
        )

    def _reuse(self, key: tuple[str, int]) -> _Connection | None:
        """The most recently used idle connection still open; older ones past ``IDLE_S``
        are closed (before the server's own keep-alive timeout could close one under a
        request)."""
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle and now - idle[0].idle_since >= IDLE_S:
            self._drop_idle(idle.popleft())
        while idle:
            conn = idle.pop()
            self._idle_count -= 1
            if not conn.closed:
                return conn
            self._open.discard(conn)
        return None

    def _drop_idle(self, conn: _Connection) -> None:
        self._idle_count -= 1
        self._open.discard(conn)
        conn.close()

    async def _connect(self, key: tuple[str, int], connect_s: float | None) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(connect_s):
                _, conn = await loop.create_connection(lambda: _Connection(key), *key)
        except TimeoutError as exc:
            raise httpx2.ConnectTimeout(f"cannot connect to {key[0]}:{key[1]} in time") from exc
        except OSError as exc:
            raise httpx2.ConnectError(f"cannot connect to {key[0]}:{key[1]}: {exc}") from exc
        self._open.add(conn)
        return conn

    def give_back(self, conn: _Connection) -> None:
        """The exchange on ``conn`` is over: keep it idle if it may carry the next one."""
        self._slots.release()
        if conn.complete and conn.keep_alive and not conn.closed and self._idle_count < MAX_IDLE:
            conn.idle_since = time.monotonic()
            self._idle.setdefault(conn.key, deque()).append(conn)
            self._idle_count += 1
        else:
            self._open.discard(conn)
            conn.close()

    async def aclose(self) -> None:
        if self._fallback is not None:
            await self._fallback.aclose()
        self._idle.clear()
        self._idle_count = 0
        while self._open:
            self._open.pop().close()
