"""A small HTTP/1.1 client for the app's hot path to its own daprd: keep-alive connections
on loopback, one request at a time each, responses parsed by httptools (uvicorn's C parser).

Why not aiohttp: a turn makes about nine requests to daprd, and aiohttp's work on each (URL
objects, cookie and redirect handling, trace hooks, its stream reader) was the largest single
cost left in the app's profile. This client does a fraction of that work (figures:
docs/BENCHMARKS.md, "Figures behind the code's comments"); it does only what talking to a local
sidecar needs: no TLS, proxies, redirects, cookies or compression. With a tracer it makes each
request's OpenTelemetry client span itself and sends ``traceparent`` (what aiohttp's
instrumentation did), so tracing on runs this same client.
"""

from __future__ import annotations

import asyncio
import re
import time
import urllib.parse
from collections import deque
from collections.abc import Callable
from typing import Any, cast

import httptools
from opentelemetry import propagate, trace

# Characters a path may hold as they are (RFC 3986 pchar, '/', '?', '%'); others are quoted.
PATH_SAFE = "/?%:@!$&'()*+,;=-._~"
# Any other character: only then is the path quoted (quoting every path showed in the app's
# profile: docs/BENCHMARKS.md, "Figures behind the code's comments").
NEEDS_QUOTING = re.compile(r"[^A-Za-z0-9" + re.escape(PATH_SAFE) + "]")


class HttpError(Exception):
    """The connection failed, closed before the whole response, or timed out."""


class ConnectionGone(HttpError):
    """The connection closed before a byte of the answer came (``request`` may retry)."""


# Methods a request may be sent again for when a reused connection turned out to be closed
# before any answer (aiohttp does the same): sending them twice does what sending once does.
RETRYABLE = frozenset({"GET", "PUT", "DELETE"})


class _Connection(asyncio.Protocol):
    """One keep-alive connection; the pool lends it to one request at a time."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._body: list[bytes] = []
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed = False
        self.keep_alive = True
        self.idle_since = 0.0
        self._answered = False  # a byte of the current request's answer came

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._answered = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(HttpError(f"malformed response: {exc}"))
            self.close()

    def eof_received(self) -> bool | None:
        # The server closed its side: never lend this connection again (connection_lost
        # follows, but only on a later loop iteration).
        self.closed = True
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        gone = ConnectionGone if not self._answered else HttpError
        self._fail(gone(f"connection closed before the response ({exc!r})"))

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._body = []

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._parser.get_status_code() < 200:
            return  # an interim answer (100 Continue, 103): the final one follows
        self.keep_alive = self._parser.should_keep_alive()
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((self._parser.get_status_code(), b"".join(self._body)))

    def _fail(self, exc: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        assert self._transport is not None
        assert self._waiter is None
        self._waiter = asyncio.get_running_loop().create_future()
        self._answered = False
        self._transport.write(request)
        return await self._waiter

    def time_out(self) -> None:
        self._fail(TimeoutError())

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()


class _Deadlines:
    """Every request's deadline under one timer: the pool's requests all wait ``timeout_s``, so
    their deadlines come in the order they were set and a FIFO holds them sorted; one loop
    timer, armed for the oldest pending deadline, fails the connection of a late request.

    Why not ``asyncio.timeout`` per request: its timer handle and task bookkeeping on each of a
    turn's ~nine requests (issue 28's "single timer sweep"). An entry is
    ``[deadline, connection or None, pending]``; ended entries leave from the front.
    """

    def __init__(self, timeout_s: float) -> None:
        self._timeout_s = timeout_s
        self._entries: deque[list[Any]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> list[Any]:
        entry: list[Any] = [loop.time() + self._timeout_s, None, True]
        self._entries.append(entry)
        if self._timer is None:
            self._timer = loop.call_at(entry[0], self._sweep, loop)
        return entry

    def end(self, entry: list[Any]) -> None:
        entry[1], entry[2] = None, False
        entries = self._entries
        while entries and not entries[0][2]:
            entries.popleft()

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now, entries = loop.time(), self._entries
        while entries and (not entries[0][2] or entries[0][0] <= now):
            entry = entries.popleft()
            if entry[2] and entry[1] is not None:
                entry[1].time_out()  # its exchange raises TimeoutError
        if entries:
            self._timer = loop.call_at(entries[0][0], self._sweep, loop)


class Http1Pool:
    """Keep-alive connections to one host:port, handed out most recently used first.

    Unbounded, as the sidecar pool must be (``sidecar/client.py``): actor calls nest, and a bound
    would let the outer calls hold every connection the inner ones wait for. An idle
    connection older than ``idle_s`` is closed (when the pool is next used), before daprd's
    own idle timeout could close it under a request. Every answer has a Content-Length or is
    chunked (daprd's are); one ended by closing the connection counts as cut.
    """

    def __init__(
        self,
        host: str,
        port: int,
        timeout_s: float,
        connect_s: float = 5.0,
        idle_s: float = 15.0,
        tracer: trace.Tracer | None = None,
        route: Callable[[str], str] = str,
    ) -> None:
        self._host, self._port = host, port
        # None: no spans at all. Not a no-op tracer: its span, context switch and inject cost
        # about half of what the request itself costs (docs/BENCHMARKS.md, "Figures behind
        # the code's comments").
        self._tracer = tracer
        self._route = route  # a path -> its span name's route (ids out: tracing.client_route)
        self._origin = f"http://{host}:{port}"
        self._timeout_s, self._connect_s, self._idle_s = timeout_s, connect_s, idle_s
        self._idle: deque[_Connection] = deque()
        self._open: set[_Connection] = set()  # idle or lent: all that close() must close
        self._prefix = f"\r\nHost: {host}:{port}\r\n".encode()
        self._closed = False
        self._deadlines = _Deadlines(timeout_s)

    async def _take(self) -> tuple[_Connection, bool]:
        """A connection, and whether it was reused (an idle one) rather than opened now."""
        idle = self._reuse()
        return (idle, True) if idle is not None else (await self._connect(), False)

    def _reuse(self) -> _Connection | None:
        """The most recently used idle connection still open, if any."""
        now = time.monotonic()
        # The oldest idle connections first: once past idle_s they are closed, even while
        # the newest keep being reused (a burst's extra connections must not stay open).
        while self._idle and now - self._idle[0].idle_since >= self._idle_s:
            self._drop(self._idle.popleft())
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                return conn
            self._drop(conn)
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_s):
                _, conn = await loop.create_connection(_Connection, self._host, self._port)
        except (OSError, TimeoutError) as exc:
            raise HttpError(f"cannot connect to {self._host}:{self._port}: {exc!r}") from exc
        if self._closed:  # the pool closed while this connection was being made
            conn.close()
            raise HttpError("the sidecar client is closed")
        self._open.add(conn)
        return conn

    def _drop(self, conn: _Connection) -> None:
        conn.close()
        self._open.discard(conn)

    async def request(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        """One request; the status and the whole body. ``HttpError`` when there is none."""
        if self._tracer is None:
            return await self._request(method, path, body, headers)
        # A client span with the HTTP attributes aiohttp's instrumentation set (the semantic
        # conventions' defaults, as FastAPI's server spans have), current while the request
        # runs so that ``traceparent`` names it as daprd's parent.
        with self._tracer.start_as_current_span(
            f"{method} {self._route(path)}",
            kind=trace.SpanKind.CLIENT,
            attributes={"http.method": method, "http.url": self._origin + path},
        ) as span:
            headers = dict(headers)
            propagate.inject(headers)
            status, answer = await self._request(method, path, body, headers)
            span.set_attribute("http.status_code", status)
            if status >= 400:
                span.set_status(trace.StatusCode.ERROR)
            return status, answer

    async def _request(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        if method == "HEAD":
            raise ValueError("HEAD is not supported (its answer has no body to wait for)")
        target = urllib.parse.quote(path, safe=PATH_SAFE) if NEEDS_QUOTING.search(path) else path
        lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        payload = body or b""
        head = f"{method} {target} HTTP/1.1".encode() + self._prefix
        request = b"%s%sContent-Length: %d\r\n\r\n%s" % (
            head,
            lines.encode(),
            len(payload),
            payload,
        )
        loop = asyncio.get_running_loop()
        entry = self._deadlines.start(loop)
        conn: _Connection | None = None
        try:
            conn, reused = await self._take()
            if loop.time() >= entry[0]:  # the connection took the whole time
                raise TimeoutError
            entry[1] = conn
            try:
                answer = await conn.exchange(request)
            except ConnectionGone:
                # daprd closed the idle connection as it was lent: nothing was answered,
                # so a method that may be repeated goes once more, on a new connection
                # (never another idle one: after a daprd restart they are all stale).
                self._drop(conn)
                conn = entry[1] = None
                if not (reused and method in RETRYABLE):
                    raise
                conn = await self._connect()
                if loop.time() >= entry[0]:
                    raise TimeoutError from None
                entry[1] = conn
                answer = await conn.exchange(request)
        except TimeoutError as exc:
            if conn is not None:
                self._drop(conn)  # its late answer would be read as the next request's
            raise HttpError(f"no answer within {self._timeout_s} s") from exc
        except BaseException:
            if conn is not None:
                self._drop(conn)
            raise
        finally:
            self._deadlines.end(entry)
        if conn.keep_alive and not conn.closed:
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
        else:
            self._drop(conn)
        return answer

    def close(self) -> None:
        self._closed = True
        self._idle.clear()
        while self._open:
            self._open.pop().close()
