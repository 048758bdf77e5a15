"""daprd's calls into actor methods, served without FastAPI's routing.

Every turn is several of these (ChatAgent, ResponseAgent, and Memory's update), and each went
through Starlette's and FastAPI's routing, exception and dependency layers before reaching
the SDK's ``ActorRuntime.dispatch``, which does the work. This middleware calls ``dispatch``
directly for ``PUT /actors/<type>/<id>/method/<name>`` and answers as the SDK's route does
(``dapr.ext.fastapi.actor``: the result bytes, or a 500 with the SDK's error object); timers,
reminders and deactivation still take the SDK's routes. It sits inside the sidecar-token
check and the tracing middleware, so both still see every call.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from agent_actors.api.middleware.plain_asgi import read_body, respond
from agent_actors.sidecar.actor_runtime import dispatch

REENTRANCY_HEADER = b"dapr-reentrancy-id"
CONTENT_TYPE = b"application/json; utf-8"


class ActorMethodCalls:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "PUT":
            await self._app(scope, receive, send)
            return
        parts = scope["path"].split("/")  # ["", "actors", type, id, "method", name]
        if len(parts) != 6 or parts[1] != "actors" or parts[4] != "method" or not all(parts[2:]):
            await self._app(scope, receive, send)
            return
        body = await read_body(receive)
        if body is None:
            return  # daprd went away before the whole request came: nothing to answer
        reentrancy = dict(scope["headers"]).get(REENTRANCY_HEADER)
        status, result = await dispatch(
            parts[2],
            parts[3],
            parts[5],
            body,
            None if reentrancy is None else reentrancy.decode("latin-1"),
        )
        await respond(send, status, result, CONTENT_TYPE)
