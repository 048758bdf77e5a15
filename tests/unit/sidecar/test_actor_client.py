"""The actor proxies: one method map per interface, and calls that still reach daprd's API."""

from __future__ import annotations

from typing import Any

import pytest

from agent_actors.actors.interfaces import MemoryAgentInterface
from agent_actors.sidecar import actor_client as proxies
from agent_actors.sidecar.actor_client import ProxyFactory


class Recorded:
    """The part of the actor client a proxy uses: invoke_method."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, bytes | None]] = []

    async def invoke_method(
        self, actor_type: str, actor_id: str, method: str, data: bytes | None = None
    ) -> bytes:
        self.calls.append((actor_type, actor_id, method, data))
        return b'{"ok": {"n": 1}}'


async def test_proxies_of_one_interface_inspect_it_once(monkeypatch: pytest.MonkeyPatch) -> None:
    inspected: list[type[Any]] = []
    real = proxies.get_dispatchable_attrs_from_interface

    def counting(interface: type[Any], found: dict[str, Any]) -> None:
        inspected.append(interface)
        real(interface, found)

    monkeypatch.setattr(proxies, "get_dispatchable_attrs_from_interface", counting)
    proxies.dispatch_map.cache_clear()
    recorded = Recorded()
    factory = ProxyFactory(recorded)  # type: ignore[arg-type]
    for user in ("u1", "u2", "u3"):
        proxy = factory.create("MemoryAgentActor", user, MemoryAgentInterface)
        assert await proxy.GetMemory() == {"ok": {"n": 1}}
        assert await proxy.UpdateMemory({"seq": 1}) == {"ok": {"n": 1}}
    assert inspected == [MemoryAgentInterface]
    assert recorded.calls[:2] == [
        ("MemoryAgentActor", "u1", "GetMemory", None),
        ("MemoryAgentActor", "u1", "UpdateMemory", b'{"seq":1}'),
    ]
    with pytest.raises(AttributeError):
        factory.create("MemoryAgentActor", "u1", MemoryAgentInterface).NoSuchMethod  # noqa: B018
    proxies.dispatch_map.cache_clear()
