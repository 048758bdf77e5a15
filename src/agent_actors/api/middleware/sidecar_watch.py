"""Notices daprd (re)connecting: it asks for GET /dapr/config each time it starts.

A daprd that crashed and came back never told this app that its actors were deactivated
meanwhile; placement may have run them on another replica. So on every such call the app
forgets its actor objects (``sidecar/state_cache.py``), and the next call of each actor loads its
committed state afresh instead of writing from a stale cache. At daprd's first start there is
nothing to forget.
"""

from __future__ import annotations

import hmac
import logging

from starlette.types import ASGIApp, Receive, Scope, Send

from agent_actors.sidecar.state_cache import forget_active_actors

log = logging.getLogger(__name__)
CONFIG_PATH = "/dapr/config"


class SidecarWatch:
    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self._app = app
        # With an app token, only daprd (which sends it) makes the app forget its actors.
        self._token = None if token is None else token.encode()

    def _from_sidecar(self, scope: Scope) -> bool:
        if self._token is None:
            return True
        given = dict(scope["headers"]).get(b"dapr-api-token", b"")
        return hmac.compare_digest(given, self._token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == CONFIG_PATH
            and scope["method"] == "GET"
            and self._from_sidecar(scope)
        ):
            dropped = await forget_active_actors()
            if dropped:
                log.warning("daprd (re)connected: dropped %d cached actors", dropped)
        await self._app(scope, receive, send)
