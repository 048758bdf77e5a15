"""The SDK's actor runtime as the rest of the service uses it: calling an actor method as
daprd asked, and reading another actor's saved state.

Both reach past the SDK's public surface (``ActorRuntime.dispatch`` with raw bytes, an actor's
``_runtime_ctx.state_provider``): kept here, so an SDK upgrade has one room to re-check.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from dapr.actor import Actor, ActorRuntime
from dapr.clients.exceptions import ERROR_CODE_UNKNOWN, DaprInternalError

# (actor type, actor id, key) -> (found, value): the SDK's StateProvider.try_load_state.
StateLoader = Callable[[str, str, str], Awaitable[tuple[bool, Any]]]


def saved_state_reader(actor: Actor) -> StateLoader:
    """How ``actor`` reads any actor's state as the store has it (not the SDK's cache of its
    own state): daprd's actor state API, which takes no actor lock."""
    loader: StateLoader = actor._runtime_ctx.state_provider.try_load_state
    return loader


async def dispatch(
    actor_type: str, actor_id: str, method: str, body: bytes, reentrancy: str | None
) -> tuple[int, bytes]:
    """An actor method call as daprd sent it: the status and body the SDK's own route answers
    (``dapr.ext.fastapi.actor``: the result bytes, or a 500 with the SDK's error object)."""
    try:
        result = await ActorRuntime.dispatch(actor_type, actor_id, method, body, reentrancy)
        return 200, result
    except DaprInternalError as ex:
        safe = ex.as_json_safe_dict()  # type: ignore[no-untyped-call]
        return 500, json.dumps(safe).encode()
    except Exception as ex:
        error = {"message": repr(ex), "errorCode": ERROR_CODE_UNKNOWN}
        return 500, json.dumps(error).encode()
