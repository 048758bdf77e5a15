"""Hostile input on the real stack: bodies bounded before they are read (413 body_too_large,
the app's peak memory unmoved, the next turn served), and callers checked before a body is
parsed."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.stack_fixture import RunningStack

HUGE = 64 * 1024 * 1024
CHUNK = 64 * 1024
ROUTES = ("/chat/{user}", "/chat/{user}/stream", "/chat/{user}/turns/1/approval")


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the most resident memory the process ever had, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise AssertionError(f"no VmHWM in /proc/{pid}/status")


def answer_of(sock: socket.socket, wait_s: float) -> tuple[int, bytes]:
    """The status and body of the answer on ``sock`` (its Content-Length's worth)."""
    sock.settimeout(wait_s)
    data = b""
    while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < length(data):
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"the connection closed after {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def length(data: bytes) -> int:
    head = data.partition(b"\r\n\r\n")[0].lower()
    for line in head.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 1 << 30  # not known yet


def post_declared(port: int, path: str) -> tuple[int, bytes]:
    """Headers that announce a 64 MiB body, and not a byte of it: only a server that refuses
    on Content-Length alone can answer."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {HUGE}\r\n\r\n".encode()
        )
        return answer_of(sock, 30)


def post_chunked(port: int, path: str) -> tuple[int, bytes, int]:
    """A 64 MiB chunked body (no Content-Length), sent until the server answers; returns the
    answer and how many body bytes had been sent when it came."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        frame = f"{CHUNK:x}\r\n".encode() + b" " * CHUNK + b"\r\n"
        sent = 0
        while sent < HUGE:
            readable, writable, _ = select.select([sock], [sock], [], 30)
            if readable:
                break
            if not writable:
                raise AssertionError(f"the server neither read nor answered after {sent} bytes")
            try:
                sock.sendall(frame)
            except (BrokenPipeError, ConnectionResetError):
                break  # it answered and closed: the answer is in the receive buffer
            sent += CHUNK
        status, body = answer_of(sock, 30)
        return status, body, sent


@pytest.fixture
def app_pid(stack: RunningStack) -> int:
    pid = stack.stack.process("app").pid
    assert pid is not None
    return pid


@pytest.fixture
def guarded(stack: RunningStack, app_pid: int) -> Iterator[None]:
    """The app's peak memory grows by less than 10 MB over the test, and it still serves."""
    before = peak_rss_mb(app_pid)
    yield
    assert peak_rss_mb(app_pid) - before < 10, (before, peak_rss_mb(app_pid))
    user = f"u{time.monotonic_ns()}"
    assert stack.app.post(f"/chat/{user}", json={"content": "still here?"}).status_code == 200


@pytest.mark.usefixtures("guarded")
@pytest.mark.parametrize("route", ROUTES)
def test_a_64_mib_body_is_refused_on_its_content_length(
    stack: RunningStack, user: str, route: str
) -> None:
    status, body = post_declared(stack.app_port, route.format(user=user))
    assert status == 413, body
    assert b'"code": "body_too_large"' in body


@pytest.mark.usefixtures("guarded")
@pytest.mark.parametrize("route", ROUTES)
def test_a_64_mib_chunked_body_is_refused_as_it_streams(
    stack: RunningStack, user: str, route: str
) -> None:
    status, body, sent = post_chunked(stack.app_port, route.format(user=user))
    assert status == 413, body
    assert b'"code": "body_too_large"' in body
    # Answered while the body was still coming: a quarter of it had not been sent.
    assert sent < HUGE // 4, sent
    assert stack.redis.keys(f"*{user}*") == []


def test_a_caller_is_checked_before_its_body_is_parsed(stack: RunningStack, user: str) -> None:
    # An id the API refuses and a body that is not JSON: the id is the answer.
    resp = stack.app.post(
        f"/chat/{user}%0A", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert (resp.status_code, resp.json()["code"]) == (422, "invalid_user_id")
    for prefer in ({}, {"Prefer": "respond-async"}):
        resp = stack.app.post(f"/chat/{user}%0A", json={"content": "hi"}, headers=prefer)
        assert (resp.status_code, resp.json()["code"]) == (422, "invalid_user_id")
        assert "location" not in resp.headers
