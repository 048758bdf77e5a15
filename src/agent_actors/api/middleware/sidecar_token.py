"""Only daprd calls the sidecar's routes (``/actors/...``, ``/subscribe...``).

daprd sends ``dapr-api-token: $APP_API_TOKEN`` on every call to the app; the SDK does not
check it, so ``SidecarTokenMiddleware`` does. Plain ASGI (not ``BaseHTTPMiddleware``): it sits
on the path of every actor call, and the base class costs a task and a stream per request.
"""

from __future__ import annotations

import hmac

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from agent_actors.api.auth import SIDECAR_ONLY


class SidecarTokenMiddleware:
    def __init__(self, app: ASGIApp, token: str) -> None:
        self._app = app
        self._token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(SIDECAR_ONLY):
            # Raw header bytes, whatever they hold: compare_digest on bytes never raises.
            given = dict(scope["headers"]).get(b"dapr-api-token", b"")
            if not hmac.compare_digest(given, self._token):
                refusal = JSONResponse(
                    {"detail": "this route is for the Dapr sidecar only", "code": "unauthorized"},
                    status_code=401,
                )
                await refusal(scope, receive, send)
                return
        await self._app(scope, receive, send)
