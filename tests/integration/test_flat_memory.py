"""Flat over time: what the app keeps per actor does not grow with the conversation.

The SDK caches every state key an actor reads or writes until the actor is deactivated; an
active user's history pages would all stay in the app. ``GET /inspect/{id}/cache`` shows the
keys each actor holds in this app process.
"""

from __future__ import annotations

import asyncio

import httpx

from tests.integration.chat_client import history
from tests.integration.stack_fixture import RunningStack

TURNS = 2000


async def send_turns(base_url: str, user: str, start: int, stop: int) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        for i in range(start, stop):
            resp = await client.post(f"/chat/{user}", json={"role": "user", "content": f"m{i}"})
            assert resp.status_code == 200, resp.text


def cache(stack: RunningStack, user: str) -> dict[str, list[str]]:
    resp = stack.app.get(f"/inspect/{user}/cache")
    assert resp.status_code == 200, resp.text
    body: dict[str, list[str]] = resp.json()
    return body


def test_the_state_cache_stays_bounded_over_2000_turns(stack: RunningStack, user: str) -> None:
    asyncio.run(send_turns(stack.app_url, user, 0, 50))
    early = cache(stack, user)
    # Reading old pages (history paging, as a UI or the search tool does) caches nothing.
    for before in range(0, 100, 20):
        history(stack.app, user, limit=20, before=before)
    asyncio.run(send_turns(stack.app_url, user, 50, TURNS))
    for before in range(0, 2 * TURNS, 400):
        history(stack.app, user, limit=20, before=before)
    late = cache(stack, user)
    assert history(stack.app, user)["total"] == 2 * TURNS
    pages = stack.settings.limits.history_page_size
    assert (2 * TURNS) // pages > 100  # the conversation spans far more pages than are kept
    assert set(late) == {"ChatAgent", "ResponseAgent", "MemoryAgentActor"}
    for actor_type, keys in late.items():
        assert keys is not None, f"{actor_type} is not active in this app"
        assert len(keys) <= 4, f"{actor_type} caches {keys}"
        assert len(keys) <= len(early[actor_type] or []) + 1, (early, late)
    assert len([k for k in late["ChatAgent"] if k.startswith("history-")]) <= 2
