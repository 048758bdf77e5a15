"""Keep the SDK's actor state cache to what the next call needs.

The SDK caches every key an actor reads or writes until the actor is deactivated (after an
hour idle: never, for an active user), and ``save_state`` walks every cached key on each call.
A long conversation's pages would all stay in the app's memory, and each turn would cost more
than the one before. After each save, ``keep_bounded`` drops the clean cached keys the actor
does not name as the ones its next call needs. Keys with unsaved changes are never dropped.

It reaches into the SDK's tracker (``dapr`` 1.19, pinned in ``uv.lock``): the SDK offers only
``clear_cache``, which drops everything and runs in a thread. ``cached_keys`` lets the
inspect route and the tests see the cache's size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dapr.actor import Actor
from dapr.actor.runtime.runtime import ActorRuntime
from dapr.actor.runtime.state_change import StateChangeKind

from agent_actors.models import ActorTypes


def _tracker(state_manager: Any) -> dict[str, Any]:
    tracker: dict[str, Any] = state_manager._default_state_change_tracker
    return tracker


def cached_value(state_manager: Any, key: str) -> Any:
    """The cached value of ``key`` (as the state serializer gave it), or None."""
    entry = _tracker(state_manager).get(key)
    return None if entry is None else entry.value


def cached_keys(state_manager: Any) -> list[str]:
    return sorted(_tracker(state_manager))


def trim(state_manager: Any, keep: set[str]) -> None:
    tracker = _tracker(state_manager)
    for key in [k for k, e in tracker.items() if k not in keep]:
        if tracker[key].change_kind == StateChangeKind.none:
            del tracker[key]


def keep_bounded(actor: Actor, keep: Callable[[], set[str]]) -> None:
    """After each save of ``actor``'s state, drop its clean cached keys not in ``keep()``.

    The SDK saves through ``_save_state_internal`` after every method, reminder, timer and
    activation, and offers no hook after it: this instance's one is replaced by one that
    saves, then trims (binding again replaces it, never stacks it)."""

    async def save_then_trim() -> None:
        await Actor._save_state_internal(actor)  # type: ignore[no-untyped-call]
        trim(actor._state_manager, keep())

    actor._save_state_internal = save_then_trim  # type: ignore[method-assign]


def resident_keys(actor_type: str, actor_id: str) -> list[str] | None:
    """The cached keys of an actor active in this process, or None if it is not here."""
    manager = ActorRuntime._actor_managers.get(actor_type)
    actor = None if manager is None else manager._active_actors.get(actor_id)
    return None if actor is None else cached_keys(actor._state_manager)


def resident_keys_of(user_id: str) -> dict[str, list[str] | None]:
    """What this process caches for each of ``user_id``'s actors (None: not active here)."""
    return {
        ActorTypes.CHAT: resident_keys(ActorTypes.CHAT, user_id),
        ActorTypes.RESPONSE: resident_keys(ActorTypes.RESPONSE, user_id),
        ActorTypes.MEMORY: resident_keys(ActorTypes.MEMORY, user_id),
    }


async def forget_active_actors() -> int:
    """Drop every actor object of this process, so the next call loads its state afresh.

    For when daprd restarted without telling the app (a crash): while it was gone, placement
    may have moved this process's actors to another replica, which went on saving turns.
    An old object here would write from its stale cache when the actor moves back. Returns
    how many actors were dropped.
    """
    dropped = 0
    for manager in list(ActorRuntime._actor_managers.values()):
        async with manager._active_actors_lock:
            dropped += len(manager._active_actors)
            manager._active_actors.clear()
    return dropped
