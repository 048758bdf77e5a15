from __future__ import annotations

from typing import Any

import pytest

from agent_actors.errors import AgentActorsError, ResponderTimeout
from agent_actors.sidecar.boundary import actor_method, unwrap


class FakeStateManager:
    def __init__(self) -> None:
        self.cleared = 0

    async def clear_cache(self) -> None:
        self.cleared += 1


class Thing:
    def __init__(self) -> None:
        self._state_manager = FakeStateManager()

    @actor_method
    async def ok(self) -> int:
        return 7

    @actor_method
    async def domain(self) -> None:
        raise ResponderTimeout("the model took too long")

    @actor_method
    async def crash(self) -> None:
        raise RuntimeError("boom")


async def test_values_and_domain_errors_cross_as_envelopes() -> None:
    thing = Thing()
    assert await thing.ok() == {"ok": 7}
    envelope = await thing.domain()
    assert envelope == {
        "error": {"code": "responder_timeout", "message": "the model took too long"}
    }
    with pytest.raises(ResponderTimeout):
        unwrap(envelope)
    assert thing._state_manager.cleared == 1


async def test_unexpected_errors_clear_the_cache_and_propagate() -> None:
    thing = Thing()
    with pytest.raises(RuntimeError):
        await thing.crash()
    assert thing._state_manager.cleared == 1


@pytest.mark.parametrize("bad", [None, [], {"neither": 1}, {"error": "text"}])
def test_unwrap_refuses_unknown_shapes(bad: Any) -> None:
    with pytest.raises(AgentActorsError):
        unwrap(bad)
