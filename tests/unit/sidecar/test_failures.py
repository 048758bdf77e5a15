"""The one table from daprd's failures to the domain error tree, and the sidecar client that
applies it to every call: what a caller gets when daprd refuses or does not answer."""

from __future__ import annotations

import asyncio

import pytest

from agent_actors.errors import (
    ActorUnavailable,
    AgentActorsError,
    PublishFailed,
    StoreUnavailable,
)
from agent_actors.settings import DaprSettings
from agent_actors.sidecar import failures
from agent_actors.sidecar.client import Sidecar

# daprd API path -> the domain error its failure is, with the code and HTTP status the API
# answers (a publish failure never reaches a client: the event stays in the outbox).
TABLE = [
    ("/v1.0/actors/ChatAgent/u1/method/ProcessMessage", ActorUnavailable, "actor_unavailable"),
    ("/v1.0/actors/ChatAgent/u1/state", ActorUnavailable, "actor_unavailable"),
    ("/v1.0/actors/ChatAgent/u1/state/history-3", ActorUnavailable, "actor_unavailable"),
    ("/v1.0/actors/ChatAgent/u1/reminders/outbox", ActorUnavailable, "actor_unavailable"),
    ("/v1.0/actors/ChatAgent/u1/timers/outbox", ActorUnavailable, "actor_unavailable"),
    ("/v1.0/state/statestore", StoreUnavailable, "store_unavailable"),
    ("/v1.0/state/statestore/bulk", StoreUnavailable, "store_unavailable"),
    ("/v1.0/state/statestore/dead-letters%7Cuser%7Cu1", StoreUnavailable, "store_unavailable"),
    ("/v1.0/publish/daca-pubsub/user-chat", PublishFailed, "publish_failed"),
    ("/v1.0/metadata", ActorUnavailable, "actor_unavailable"),
    ("/v1.0/metadata?x=1", ActorUnavailable, "actor_unavailable"),
]


@pytest.mark.parametrize(("path", "error", "code"), TABLE)
def test_a_refusal_is_its_apis_domain_error(
    path: str, error: type[AgentActorsError], code: str
) -> None:
    exc = failures.refused("POST", path, 500, b'{"errorCode": "ERR_X", "message": "boom"}')
    assert type(exc) is error
    assert (exc.code, exc.status, exc.retry_after_s) == (code, 503, 1)
    said = f"{exc.message} {getattr(exc, 'cause', '')}"
    assert all(word in said for word in ("500", "ERR_X", path))


@pytest.mark.parametrize(("path", "error", "code"), TABLE)
def test_no_answer_is_its_apis_domain_error(
    path: str, error: type[AgentActorsError], code: str
) -> None:
    exc = failures.unreachable("GET", path, ConnectionRefusedError("refused"))
    assert type(exc) is error
    assert exc.code == code
    assert "did not answer" in f"{exc.message} {getattr(exc, 'cause', '')}"


def test_an_actor_failure_keeps_daprds_words_from_the_client() -> None:
    exc = failures.refused("PUT", "/v1.0/actors/ChatAgent/u1/state", 500, b"ERR_ACTOR_STATE")
    assert isinstance(exc, ActorUnavailable)
    assert exc.message == "the actor runtime could not complete the call"
    assert "ERR_ACTOR_STATE" in exc.cause


def test_only_a_2xx_is_an_answer() -> None:
    path = "/v1.0/state/statestore/bulk"
    for status in (200, 201, 204):
        assert failures.ok("POST", path, status, b"[]") == b"[]"
    for status in (304, 400, 404, 409, 412, 500, 503):
        with pytest.raises(StoreUnavailable, match=str(status)):
            failures.ok("POST", path, status, b"")


def test_daprds_words_are_bounded() -> None:
    exc = failures.refused("POST", "/v1.0/state/s", 500, b"x" * 10_000)
    assert len(exc.message) < failures.SAID_BYTES + 100


async def test_the_client_maps_a_sidecar_that_does_not_answer() -> None:
    srv = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    srv.close()
    await srv.wait_closed()  # nothing listens on the port any more
    sidecar = Sidecar(DaprSettings(http_port=port))
    await sidecar.start()
    try:
        with pytest.raises(ActorUnavailable):
            await sidecar.call("POST", "/v1.0/actors/ChatAgent/u1/method/ProcessMessage")
        with pytest.raises(StoreUnavailable, match="did not answer"):
            await sidecar.request("POST", "/v1.0/state/statestore/bulk", b"{}")
        with pytest.raises(PublishFailed, match="did not answer"):
            await sidecar.call("POST", "/v1.0/publish/daca-pubsub/user-chat", b"{}")
    finally:
        await sidecar.close()


async def test_a_client_not_started_is_a_sidecar_that_does_not_answer() -> None:
    with pytest.raises(ActorUnavailable):
        await Sidecar(DaprSettings()).call("GET", "/v1.0/metadata")
