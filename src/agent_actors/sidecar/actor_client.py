"""daprd's actor API for the proxies and for the actors themselves, on the app's sidecar pool.

The SDK's own HTTP client opens a new aiohttp session (a new TCP connection) for every call and
blocks the event loop on a synchronous health poll when it is built; this one shares the app's
pool (``sidecar/client.py``) and never blocks.
"""

from __future__ import annotations

import functools
from typing import Any

from dapr.actor import ActorId, ActorProxy
from dapr.actor.runtime._type_utils import get_dispatchable_attrs_from_interface
from dapr.clients.base import DaprActorClientBase

from agent_actors.sidecar.client import Sidecar
from agent_actors.sidecar.serializer import SERIALIZER


class PooledActorClient(DaprActorClientBase):
    def __init__(self, sidecar: Sidecar) -> None:
        self._sidecar = sidecar

    async def _send(self, method: str, url: str, data: bytes | None = None) -> bytes:
        return await self._sidecar.call(method, url, data)

    async def invoke_method(
        self, actor_type: str, actor_id: str, method: str, data: bytes | None = None
    ) -> bytes:
        return await self._send(
            "POST", f"/v1.0/actors/{actor_type}/{actor_id}/method/{method}", data
        )

    async def save_state_transactionally(self, actor_type: str, actor_id: str, data: bytes) -> None:
        await self._send("PUT", f"/v1.0/actors/{actor_type}/{actor_id}/state", data)

    async def get_state(self, actor_type: str, actor_id: str, name: str) -> bytes:
        return await self._send("GET", f"/v1.0/actors/{actor_type}/{actor_id}/state/{name}")

    async def try_load_state(self, actor_type: str, actor_id: str, name: str) -> tuple[bool, Any]:
        """An actor's saved value, from outside any actor (the session index checks listed
        conversations with it): as the SDK's state provider reads it, (False, None) if none."""
        raw = await self.get_state(actor_type, actor_id, name)
        return (True, SERIALIZER.deserialize(raw)) if raw else (False, None)

    async def register_reminder(
        self, actor_type: str, actor_id: str, name: str, data: bytes
    ) -> None:
        await self._send("PUT", f"/v1.0/actors/{actor_type}/{actor_id}/reminders/{name}", data)

    async def unregister_reminder(self, actor_type: str, actor_id: str, name: str) -> None:
        await self._send("DELETE", f"/v1.0/actors/{actor_type}/{actor_id}/reminders/{name}")

    async def register_timer(self, actor_type: str, actor_id: str, name: str, data: bytes) -> None:
        await self._send("PUT", f"/v1.0/actors/{actor_type}/{actor_id}/timers/{name}", data)

    async def unregister_timer(self, actor_type: str, actor_id: str, name: str) -> None:
        await self._send("DELETE", f"/v1.0/actors/{actor_type}/{actor_id}/timers/{name}")


@functools.cache
def dispatch_map(interface: type[Any]) -> dict[str, dict[str, Any]]:
    """The interface's actor methods, as ``ActorProxy`` describes them to itself."""
    found: dict[str, dict[str, Any]] = {}
    get_dispatchable_attrs_from_interface(interface, found)
    return found


class InterfaceProxy(ActorProxy):
    """``ActorProxy`` with its interface's method map computed once per interface.

    The SDK builds the map on a proxy's first method call by inspecting the whole interface
    (signatures and type hints of every method), and a proxy is made per request: that showed in
    the app's profile (docs/BENCHMARKS.md, "Figures behind the code's comments"). The map only
    depends on the interface, so the proxies of one interface share it (the SDK only ever adds
    the same entries to it)."""

    def __init__(self, client: DaprActorClientBase, actor_type: str, actor_id: str, iface: Any):
        super().__init__(client, actor_type, ActorId(actor_id), iface, SERIALIZER)
        self._dispatchable_attr = dispatch_map(iface)


class ProxyFactory:
    """Creates ``ActorProxy`` objects on the pooled client (callers only use proxies)."""

    def __init__(self, client: DaprActorClientBase) -> None:
        self._client = client

    def create(self, actor_type: str, actor_id: str, interface: type[Any]) -> Any:
        return InterfaceProxy(self._client, actor_type, actor_id, interface)
