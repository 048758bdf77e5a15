"""The sidecar's HTTP/1.1 client against a real server on loopback: reuse, the response forms
daprd can send, and every way a response can fail to come."""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agent_actors.sidecar.http1 import NEEDS_QUOTING, PATH_SAFE, Http1Pool, HttpError
from agent_actors.tracing import client_route

# (the request's head + body, requests answered on its connection before) -> the raw
# response; None: never answer; CLOSE: close the connection without answering.
Answer = Callable[[bytes, int], bytes | None]
CLOSE = b""


@asynccontextmanager
async def server(answer: Answer) -> AsyncIterator[tuple[int, list[bytes], list[int]]]:
    """A server that reads whole requests (Content-Length) and writes what ``answer`` says;
    yields its port, the requests it saw and one entry per connection it accepted."""
    seen: list[bytes] = []
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                request = head + await reader.readexactly(length)
                seen.append(request)
                response = answer(request, served)
                if response is None:
                    continue  # never answer
                if response == CLOSE:
                    break
                served += 1
                writer.write(response)
                await writer.drain()
                if b"connection: close" in response.lower():
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        yield port, seen, connections
    finally:
        srv.close()


def ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


async def test_a_connection_is_reused_and_each_request_gets_its_own_answer() -> None:
    async with server(lambda req, _n: ok(req.split(b" ")[1])) as (port, seen, conns):
        pool = Http1Pool("127.0.0.1", port, timeout_s=5)
        for i in range(5):
            status, body = await pool.request(
                "POST", f"/v1.0/actors/A/u{i}/method/M", b'{"x":1}', {"X-Y": "z"}
            )
            assert (status, body) == (200, f"/v1.0/actors/A/u{i}/method/M".encode())
        pool.close()
    assert len(conns) == 1
    assert seen[0].startswith(b"POST /v1.0/actors/A/u0/method/M HTTP/1.1\r\n")
    assert b"\r\nX-Y: z\r\n" in seen[0]
    assert b"\r\nContent-Length: 7\r\n" in seen[0]
    assert seen[0].endswith(b'\r\n\r\n{"x":1}')


async def test_concurrent_requests_take_connections_of_their_own() -> None:
    async with server(lambda req, _n: ok(req.split(b" ")[1])) as (port, _, conns):
        pool = Http1Pool("127.0.0.1", port, timeout_s=5)
        answers = await asyncio.gather(*(pool.request("GET", f"/{i}", None, {}) for i in range(8)))
        assert answers == [(200, f"/{i}".encode()) for i in range(8)]
        pool.close()
    assert len(conns) == 8


async def test_chunked_and_error_answers_are_read_whole() -> None:
    chunked = b"HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunked += b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    async with server(lambda req, _n: chunked) as (port, _, conns):
        pool = Http1Pool("127.0.0.1", port, timeout_s=5)
        assert await pool.request("GET", "/x", None, {}) == (500, b"hello world")
        assert await pool.request("GET", "/x", None, {}) == (500, b"hello world")
        pool.close()
    assert len(conns) == 1


async def test_a_connection_the_server_closes_is_not_reused() -> None:
    async with server(lambda req, _n: ok(b"bye", b"Connection: close\r\n")) as (port, _, conns):
        pool = Http1Pool("127.0.0.1", port, timeout_s=5)
        for _ in range(3):
            assert await pool.request("GET", "/", None, {}) == (200, b"bye")
        pool.close()
    assert len(conns) == 3


async def test_no_answer_in_time_is_an_error_and_the_connection_is_dropped() -> None:
    answers = iter([None, ok(b"late?"), ok(b"second")])
    async with server(lambda req, _n: next(answers)) as (port, _, conns):
        pool = Http1Pool("127.0.0.1", port, timeout_s=0.2)
        with pytest.raises(HttpError, match="no answer within"):
            await pool.request("GET", "/slow", None, {})
        # A new connection: the timed-out one could still carry the late answer.
        assert await pool.request("GET", "/", None, {}) == (200, b"late?")
        pool.close()
    assert len(conns) == 2


async def test_a_connection_cut_mid_answer_is_an_error() -> None:
    async with server(
        lambda req, _n: b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\nshort"
    ) as (
        port,
        _,
        _,
    ):
        pool = Http1Pool("127.0.0.1", port, timeout_s=5)
        with pytest.raises(HttpError, match="closed before the response"):
            await pool.request("GET", "/", None, {})
        pool.close()


async def test_a_malformed_answer_is_an_error() -> None:
    async with server(lambda req, _n: b"NOT HTTP AT ALL\r\n\r\n") as (port, _, _):
        pool = Http1Pool("127.0.0.1", port, timeout_s=5)
        with pytest.raises(HttpError, match="malformed response"):
            await pool.request("GET", "/", None, {})
        pool.close()


async def test_nobody_listening_is_an_error() -> None:
    async with server(lambda req, _n: ok(b"")) as (port, _, _):
        pass  # closed: nothing listens on the port any more
    pool = Http1Pool("127.0.0.1", port, timeout_s=5)
    with pytest.raises(HttpError, match="cannot connect"):
        await pool.request("GET", "/", None, {})


async def test_an_idle_connection_past_its_age_is_replaced() -> None:
    async with server(lambda req, _n: ok(b"x")) as (port, _, conns):
        pool = Http1Pool("127.0.0.1", port, timeout_s=5, idle_s=0.05)
        await pool.request("GET", "/", None, {})
        await asyncio.sleep(0.1)
        await pool.request("GET", "/", None, {})
        pool.close()
    assert len(conns) == 2


async def test_a_path_is_sent_quoted() -> None:
    async with server(lambda req, _n: ok(req.split(b" ")[1])) as (port, _, _):
        pool = Http1Pool("127.0.0.1", port, timeout_s=5)
        status, target = await pool.request("GET", "/v1.0/state/s/a b\r\nX: y", None, {})
        pool.close()
    assert (status, target) == (200, b"/v1.0/state/s/a%20b%0D%0AX:%20y")


def test_a_path_skips_quoting_only_when_quoting_would_not_change_it() -> None:
    for code in range(0x110):
        path = f"/a{chr(code)}b"
        unchanged = urllib.parse.quote(path, safe=PATH_SAFE) == path
        assert (NEEDS_QUOTING.search(path) is None) == unchanged, repr(chr(code))


async def test_expired_idle_connections_close_while_newer_ones_are_reused() -> None:
    async with server(lambda req, _n: ok(b"x")) as (port, _, conns):
        pool = Http1Pool("127.0.0.1", port, timeout_s=5, idle_s=0.2)
        # A burst opens three connections; then one request at a time reuses the newest.
        await asyncio.gather(*(pool.request("GET", "/", None, {}) for _ in range(3)))
        assert len(pool._open) == 3
        for _ in range(4):
            await asyncio.sleep(0.07)
            await pool.request("GET", "/", None, {})
        assert len(pool._open) == 1  # the burst's two others were closed once past idle_s
        pool.close()
    assert len(conns) == 3


async def test_a_reused_connection_found_closed_is_retried_for_repeatable_methods() -> None:
    # Each connection answers its first request and is closed at its second, unanswered:
    # what a server closing an idle connection just as it is reused looks like.
    async with server(lambda req, n: ok(b"x") if n == 0 else CLOSE) as (port, _, conns):
        pool = Http1Pool("127.0.0.1", port, timeout_s=5)
        assert await pool.request("GET", "/", None, {}) == (200, b"x")  # a new connection
        for method in ("GET", "PUT", "DELETE"):
            # each reuses the connection the last one left, which the server closes: sent
            # again on a new one
            assert await pool.request(method, "/", None, {}) == (200, b"x")
        with pytest.raises(HttpError, match="closed before the response"):
            # a POST is never sent twice: it may have run
            await pool.request("POST", "/", b"{}", {})
        assert await pool.request("POST", "/", b"{}", {}) == (200, b"x")  # a new connection
        pool.close()
    assert len(conns) == 5  # the first, three retries, the last POST


async def test_an_interim_answer_is_skipped_for_the_final_one() -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"final")
    async with server(lambda req, _n: interim) as (port, _, _):
        pool = Http1Pool("127.0.0.1", port, timeout_s=5)
        assert await pool.request("PUT", "/", b"{}", {}) == (200, b"final")
        assert await pool.request("PUT", "/", b"{}", {}) == (200, b"final")
        pool.close()


async def test_head_is_refused() -> None:
    pool = Http1Pool("127.0.0.1", 9, timeout_s=5)
    with pytest.raises(ValueError, match="HEAD"):
        await pool.request("HEAD", "/", None, {})


async def test_the_retry_after_a_closed_connection_goes_on_a_new_one() -> None:
    # After daprd restarts, every idle connection is stale, not only the one tried first:
    # here two idle ones, each closed by the server when it is reused.
    async with server(lambda req, n: ok(b"x") if n == 0 else CLOSE) as (port, _, conns):
        pool = Http1Pool("127.0.0.1", port, timeout_s=5)
        burst = [pool.request("GET", "/", None, {}) for _ in range(2)]
        assert await asyncio.gather(*burst) == [(200, b"x")] * 2
        assert len(pool._idle) == 2
        assert await pool.request("GET", "/", None, {}) == (200, b"x")
        pool.close()
    assert len(conns) == 3  # the burst's two, then the retry's new one


def traced() -> tuple[trace.Tracer, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("t"), exporter


async def test_with_a_tracer_each_request_is_a_client_span_daprd_continues() -> None:
    tracer, exporter = traced()
    status = iter([b"200 OK", b"500 Internal Server Error"])

    def answer(_req: bytes, _n: int) -> bytes:
        return b"HTTP/1.1 %s\r\nContent-Length: 2\r\n\r\n{}" % next(status)

    async with server(answer) as (port, seen, _):
        pool = Http1Pool("127.0.0.1", port, timeout_s=5, tracer=tracer, route=client_route)
        headers = {"Content-Type": "application/json"}
        with tracer.start_as_current_span("POST /chat/{id}") as parent:
            await pool.request(
                "POST", "/v1.0/actors/ChatAgent/u1/method/ProcessMessage", b"", headers
            )
            await pool.request("GET", "/v1.0/actors/ChatAgent/u1/state/meta", None, headers)
        pool.close()
    assert headers == {"Content-Type": "application/json"}  # the caller's dict is left alone
    call, read = exporter.get_finished_spans()[:2]
    assert call.name == "POST /v1.0/actors/ChatAgent/{id}/method/ProcessMessage"
    assert read.name == "GET /v1.0/actors/ChatAgent/{id}/state/{key}"
    assert call.kind is trace.SpanKind.CLIENT
    assert call.parent is not None
    assert call.parent.span_id == parent.get_span_context().span_id
    assert dict(call.attributes or {}) == {
        "http.method": "POST",
        "http.url": f"http://127.0.0.1:{port}/v1.0/actors/ChatAgent/u1/method/ProcessMessage",
        "http.status_code": 200,
    }
    assert call.status.status_code is trace.StatusCode.UNSET
    assert read.status.status_code is trace.StatusCode.ERROR  # a 500
    for request, span in zip(seen, (call, read), strict=True):
        ctx = span.get_span_context()
        sent = f"traceparent: 00-{ctx.trace_id:032x}-{ctx.span_id:016x}-".encode()
        assert sent in request


async def test_a_request_without_an_answer_fails_its_span() -> None:
    tracer, exporter = traced()
    async with server(lambda req, _n: CLOSE) as (port, _, _):
        pool = Http1Pool("127.0.0.1", port, timeout_s=5, tracer=tracer)
        with pytest.raises(HttpError):
            await pool.request("POST", "/x", b"", {})
        pool.close()
    (span,) = exporter.get_finished_spans()
    assert (span.name, span.status.status_code) == ("POST /x", trace.StatusCode.ERROR)


async def test_without_a_tracer_no_traceparent_is_sent() -> None:
    async with server(lambda req, _n: ok(b"")) as (port, seen, _):
        pool = Http1Pool("127.0.0.1", port, timeout_s=5)
        tracer, _ = traced()
        with tracer.start_as_current_span("outer"):
            await pool.request("GET", "/", None, {})
        pool.close()
    assert b"traceparent" not in seen[0]


async def test_one_timer_times_out_only_the_requests_past_their_deadline() -> None:
    # Deadlines share one timer (http1._Deadlines): requests that answered in time leave it,
    # a late one is failed when its own time is up, and one sent later is not failed with it.
    def answer(req: bytes, _n: int) -> bytes | None:
        return None if req.startswith(b"GET /slow") else ok(b"fast")

    async with server(answer) as (port, _, _conns):
        pool = Http1Pool("127.0.0.1", port, timeout_s=0.4)
        loop = asyncio.get_running_loop()
        slow = asyncio.create_task(pool.request("GET", "/slow", None, {}))
        await asyncio.sleep(0.3)
        started = loop.time()
        later = asyncio.create_task(pool.request("GET", "/slow", None, {}))
        for _ in range(5):  # answered in time, on a third connection, while both wait
            assert await pool.request("GET", "/", None, {}) == (200, b"fast")
        with pytest.raises(HttpError, match="no answer within"):
            await slow
        assert not later.done()  # its deadline is its own, 0.4 s after it was sent
        with pytest.raises(HttpError, match="no answer within"):
            await later
        assert loop.time() - started >= 0.4
        assert await pool.request("GET", "/", None, {}) == (200, b"fast")
        pool.close()
