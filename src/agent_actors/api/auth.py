"""Only the sidecar may call the actor and subscription routes when an app token is set.

daprd sends ``dapr-api-token: $APP_API_TOKEN`` on every call to the app; the SDK does not
check it, so this middleware does.
"""

from __future__ import annotations

import hmac

from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp

SIDECAR_ONLY = ("/actors/", "/subscribe")


class SidecarTokenMiddleware(BaseHTTPMiddleware):
    def __init__(self, app: ASGIApp, token: str) -> None:
        super().__init__(app)
        self._token = token.encode()

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if request.url.path.startswith(SIDECAR_ONLY):
            given = request.headers.get("dapr-api-token", "").encode()
            if not hmac.compare_digest(given, self._token):
                return JSONResponse(
                    {"detail": "this route is for the Dapr sidecar only", "code": "unauthorized"},
                    status_code=401,
                )
        return await call_next(request)
