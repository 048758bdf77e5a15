"""How results and domain errors cross an actor call.

``@actor_method`` wraps an actor method: its value goes back as ``{"ok": value}``, a domain
error as ``{"error": {...}}``. On any failure the SDK's state cache is cleared first: the SDK
only clears it after a Dapr error, and otherwise a later, successful call would save what the
failed one had set (a half turn). ``unwrap`` raises the domain error again on the caller's side.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, Protocol, cast

from opentelemetry import trace

from agent_actors.errors import AgentActorsError, error_for_code

log = logging.getLogger(__name__)
P = ParamSpec("P")


class HasStateManager(Protocol):
    _state_manager: Any


def actor_method(
    fn: Callable[Concatenate[Any, P], Awaitable[Any]],
) -> Callable[Concatenate[Any, P], Awaitable[dict[str, Any]]]:
    @functools.wraps(fn)
    async def wrapper(self: HasStateManager, *args: P.args, **kwargs: P.kwargs) -> dict[str, Any]:
        try:
            return {"ok": await fn(self, *args, **kwargs)}
        except AgentActorsError as exc:
            await self._state_manager.clear_cache()
            # An answer, not a crash: the caller gets the code; the call's span (daprd's call
            # into this actor, tracing.py) shows it failed and why.
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
