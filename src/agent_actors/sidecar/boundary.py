"""How results and domain errors cross an actor call.

``@actor_method`` wraps an actor method: its value goes back as ``{"ok": value}``, a domain
error as ``{"error": {...}}``. On any failure the SDK's state cache is cleared first: the SDK
only clears it after a Dapr error, and otherwise a later, successful call would save what the
failed one had set (a half turn). ``unwrap`` raises the domain error again on the caller's side.

It also holds a lock per actor (type and id) in this process around each method. daprd's turn
lock is the one that matters, but when placement rebalances, daprd waits a moment for calls in
flight and then force-cancels their lock claims (its log: "force cancelling remaining
claims"): it may then deactivate the actor and send the next call to a fresh activation in the
same process while the old call still runs (seen on the real stack: a delegate's task and its
resend ran at once, two model calls, one commit). This lock keeps that second call waiting
until the first is over, as daprd's would have, so it sees what the first committed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, Protocol, cast

from opentelemetry import trace

from agent_actors.errors import AgentActorsError, error_for_code

log = logging.getLogger(__name__)
P = ParamSpec("P")


class HasStateManager(Protocol):
    _state_manager: Any
    id: Any


# The locks of the actors with a call in this process. Weak: an idle actor's lock goes
# with its last waiter. Process-wide because an actor is one per process, whichever app made it.
_LOCKS: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = weakref.WeakValueDictionary()


def turn_lock(actor_type: str, actor: object) -> asyncio.Lock:
    key = (actor_type, str(getattr(actor, "id", "")))
    lock = _LOCKS.get(key)
    if lock is None:
        lock = _LOCKS[key] = asyncio.Lock()
    return lock


def actor_method(
    fn: Callable[Concatenate[Any, P], Awaitable[Any]],
) -> Callable[Concatenate[Any, P], Awaitable[dict[str, Any]]]:
    # The class that defines the method (the unit tests' mock actors are subclasses of it).
    actor_type = fn.__qualname__.split(".")[0]

    @functools.wraps(fn)
    async def wrapper(self: HasStateManager, *args: P.args, **kwargs: P.kwargs) -> dict[str, Any]:
        # The cache is cleared under the lock: the SDK clears it in an executor, and a call
        # waiting for the lock would otherwise start on what the failed one left in it.
        async with turn_lock(actor_type, self):
            try:
                return {"ok": await fn(self, *args, **kwargs)}
            except AgentActorsError as exc:
                await self._state_manager.clear_cache()
                # An answer, not a crash: the caller gets the code; the call's span (daprd's
                # call into this actor, tracing.py) shows it failed and why.
                span = trace.get_current_span()
                span.set_status(trace.StatusCode.ERROR, exc.code)
                span.set_attribute("error.type", exc.code)
                return {"error": exc.as_dict()}
            except BaseException:
                await self._state_manager.clear_cache()
                raise

    return cast("Callable[Concatenate[Any, P], Awaitable[dict[str, Any]]]", wrapper)


def unwrap(envelope: Any) -> Any:
    if isinstance(envelope, dict):
        if "ok" in envelope:
            return envelope["ok"]
        error = envelope.get("error")
        if isinstance(error, dict):
            raise error_for_code(str(error.get("code")), str(error.get("message")))
    raise AgentActorsError(f"an actor answered with an unexpected shape: {envelope!r:.200}")
