"""The ETag'd writes of dead letters and the session index (store/dead_letters.py), against
real daprd and Redis: which answers are conflicts, read again and retried, and which are
failures, raised at once."""

from __future__ import annotations

import uuid

import pytest

from agent_actors.errors import StoreUnavailable
from agent_actors.sidecar.client import Sidecar
from agent_actors.store.dead_letters import DaprStateStore
from tests.integration.stack_fixture import RunningStack


async def test_only_a_write_someone_else_won_is_a_conflict(stack: RunningStack) -> None:
    sidecar = Sidecar(stack.settings.dapr)
    await sidecar.start()
    try:
        store = DaprStateStore(sidecar, stack.settings.dapr.state_store)
        key = f"test|{uuid.uuid4().hex}"
        assert await store.put(key, {"n": 1}, None)
        # A second creator (no ETag) loses the race: a conflict, though daprd answers 500.
        assert await store.put(key, {"n": 2}, None) is False
        _, etag = await store.get(key)
        assert await store.put(key, {"n": 3}, etag)
        assert await store.put(key, {"n": 4}, etag) is False  # stale ETag: 409
        # Not a conflict (daprd answers 400 to an ETag Redis cannot read): raised, not retried.
        with pytest.raises(StoreUnavailable, match="400"):
            await store.put(key, {"n": 5}, "not-a-version")
        assert await store.get(key) == ({"n": 3}, str(int(etag or 0) + 1))
        await store.delete(key)
    finally:
        await sidecar.close()
