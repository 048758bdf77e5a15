"""Bodies bounded before they are read (BodyLimit), and callers checked before a body is
parsed (CallerFirst)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from agent_actors.api.middleware.body_limit import BodyLimit
from agent_actors.main import create_app
from agent_actors.settings import AuthSettings, LimitSettings, Settings
from tests.unit.twins import make_deps

LIMIT = 1000


class Reader:
    """An app that reads the whole body, then answers 200 with how many bytes it got."""

    def __init__(self) -> None:
        self.read = 0
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        more = True
        while more:
            message = await receive()
            self.calls += 1
            if message["type"] == "http.disconnect":
                raise OSError("the client left")  # as a server's body read fails
            self.read += len(message.get("body", b""))
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(self.read).encode()})


def scope(path: str = "/chat/u1", length: int | None = None) -> Scope:
    headers = [] if length is None else [(b"content-length", str(length).encode())]
    return {"type": "http", "method": "POST", "path": path, "headers": headers}


async def run(app: BodyLimit, scope: Scope, chunks: list[bytes]) -> tuple[list[Message], int]:
    """The messages the client got, and how many chunks it was asked for."""
    given = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal given
        if given == len(chunks):
            return {"type": "http.disconnect"}
        given += 1
        return {"type": "http.request", "body": chunks[given - 1], "more_body": given < len(chunks)}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent, given


def answer(sent: list[Message]) -> tuple[int, dict[bytes, bytes], dict[str, str]]:
    start, body = sent[0], sent[1]
    return start["status"], dict(start["headers"]), json.loads(body["body"])


async def test_a_declared_length_over_the_limit_is_refused_before_a_byte_is_read() -> None:
    reader = Reader()
    sent, given = await run(
        BodyLimit(reader, max_bytes=LIMIT, sidecar_max_bytes=10 * LIMIT),
        scope(length=64 * 1024 * 1024),
        [b"x" * 100] * 3,
    )
    status, headers, body = answer(sent)
    assert (status, body["code"]) == (413, "body_too_large")
    assert b"connection" not in headers  # (closing could reset the answer away)
    assert str(LIMIT) in body["detail"]
    assert (given, reader.calls) == (0, 0)
    assert len(sent) == 2


async def test_a_chunked_body_is_refused_the_moment_it_passes_the_limit() -> None:
    reader = Reader()
    chunks = [b"x" * 400] * 10
    sent, given = await run(
        BodyLimit(reader, max_bytes=LIMIT, sidecar_max_bytes=10 * LIMIT), scope(), chunks
    )
    status, _headers, body = answer(sent)
    assert (status, body["code"]) == (413, "body_too_large")
    # 400, 800, 1200: the third chunk passed 1000; none after it was asked for.
    assert given == 3
    # The app's own answer to its failed read never reaches the client.
    assert len(sent) == 2


async def test_a_body_at_the_limit_passes_whole() -> None:
    reader = Reader()
    sent, _given = await run(
        BodyLimit(reader, max_bytes=LIMIT, sidecar_max_bytes=10 * LIMIT),
        scope(length=LIMIT),
        [b"x" * 500, b"x" * 500],
    )
    assert sent[0]["status"] == 200
    assert sent[1]["body"] == str(LIMIT).encode()


async def test_the_sidecars_calls_take_the_sidecars_limit() -> None:
    reader = Reader()
    limit = BodyLimit(reader, max_bytes=LIMIT, sidecar_max_bytes=10 * LIMIT)
    sent, _ = await run(limit, scope("/actors/ChatAgent/u1/method/X", 5 * LIMIT), [b"x" * 5000])
    assert sent[0]["status"] == 200
    sent, _ = await run(limit, scope("/subscribe", 11 * LIMIT), [b"x"])
    assert sent[0]["status"] == 413


@pytest.fixture
def small_limit() -> Iterator[TestClient]:
    settings = Settings(
        auth=AuthSettings(app_api_token="t"),
        limits=LimitSettings(max_content_chars=100, max_body_bytes=12 * 100 + 4096),
    )
    with TestClient(create_app(settings)) as client:
        client.app.state.deps = make_deps(settings)[0]  # type: ignore[attr-defined]
        yield client


@pytest.mark.parametrize(
    "path", ["/chat/u1", "/chat/u1/stream", "/chat/u1/turns/1/approval", "/no/such/route"]
)
def test_every_route_refuses_a_body_over_the_limit(small_limit: TestClient, path: str) -> None:
    answered = small_limit.post(path, content=b"{" + b" " * 6000 + b"}")
    assert answered.status_code == 413
    assert answered.json()["code"] == "body_too_large"


def test_the_largest_valid_message_escaped_as_json_fits(small_limit: TestClient) -> None:
    # Every character escaped, an emoji as its surrogate pair: 12 bytes each.
    message = json.dumps({"role": "user", "content": "😀" * 100}, ensure_ascii=True)
    answered = small_limit.post(
        "/chat/u1", content=message, headers={"content-type": "application/json"}
    )
    assert answered.status_code == 200, answered.text


def test_a_limit_that_cannot_hold_the_largest_message_stops_the_start() -> None:
    with pytest.raises(ValueError, match="max_body_bytes"):
        LimitSettings(max_content_chars=100_000, max_body_bytes=256 * 1024)


KEYS = {"k1": "alice"}


@pytest.fixture
def keyed() -> Iterator[TestClient]:
    settings = Settings(auth=AuthSettings(api_keys=KEYS, app_api_token="t"))
    with TestClient(create_app(settings)) as client:
        client.app.state.deps = make_deps(settings)[0]  # type: ignore[attr-defined]
        yield client


@pytest.mark.parametrize(
    "path", ["/chat/alice", "/chat/alice/stream", "/chat/alice/turns/1/approval"]
)
def test_a_caller_without_a_key_is_refused_before_its_body_is_parsed(
    keyed: TestClient, path: str
) -> None:
    # Not JSON at all: parsed first, it would be a 422; checked first, it is a 401.
    garbage = {"content": b"{not json", "headers": {"content-type": "application/json"}}
    assert keyed.post(path, **garbage).json()["code"] == "unauthorized"  # type: ignore[arg-type]
    bound_elsewhere = {"authorization": "Bearer k1", "content-type": "application/json"}
    answered = keyed.post(
        path.replace("alice", "bob"), content=b"{not json", headers=bound_elsewhere
    )
    assert (answered.status_code, answered.json()["code"]) == (403, "forbidden")


def test_an_invalid_id_is_refused_before_the_body_is_parsed(keyed: TestClient) -> None:
    answered = keyed.post(
        "/chat/u1%0A", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert (answered.status_code, answered.json()["code"]) == (422, "invalid_user_id")
