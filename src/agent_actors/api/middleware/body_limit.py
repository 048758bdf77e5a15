"""Request bodies bounded in bytes before anything reads them (``BodyLimit``).

FastAPI reads and parses a whole body before a route's dependencies (auth, the rate limiter)
run, so without a bound an anonymous client's 200 MB body costs the process about three times
that in memory and blocks the event loop in ``json.loads``. This layer sits outermost after
the sidecar-token check: a ``Content-Length`` over the limit is answered 413 at once, before a
byte of the body is read; a body without one (chunked) is counted as it streams, and answered
413 the moment the count passes the limit. Either way the rest of the body is never read into
anything.

The public routes take ``limits.max_body_bytes``; daprd's calls (``/actors/...``,
``/subscribe``) carry actor payloads and events, bounded by the sidecar's own limit instead
(``dapr.max_body_bytes``, which also sets daprd's ``--max-body-size``).
Plain ASGI, like the token check: it is on the path of every request.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent_actors.api.auth import SIDECAR_ONLY
from agent_actors.api.http_errors import error_body
from agent_actors.errors import BodyTooLarge


class _Refused(Exception):
    """The 413 is sent: the app below stops reading, and whatever it answers is dropped."""


class BodyLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int, sidecar_max_bytes: int) -> None:
        self._app = app
        self._max = max_bytes
        self._sidecar_max = sidecar_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        limit = self._sidecar_max if scope["path"].startswith(SIDECAR_ONLY) else self._max
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, limit, f"the body has {declared} bytes")
            return
        await _Counted(self._app, limit)(scope, receive, send)


class _Counted:
    """One request whose body is counted as the app below reads it."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self._app = app
        self._limit = limit
        self._seen = 0
        self._started = False
        self._refused = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def counted_receive() -> Message:
            if self._refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                self._seen += len(message.get("body", b""))
                if self._seen > self._limit:
                    if self._started:
                        # Answering already (it read no more than it needed): it reads no more.
                        return {"type": "http.disconnect"}
                    self._refused = True
                    await _refuse(send, self._limit, f"the body passed {self._limit} bytes")
                    raise _Refused
            return message

        async def guarded_send(message: Message) -> None:
            if self._refused:
                return  # the 413 went out: the app's own answer to the failed read is dropped
            if message["type"] == "http.response.start":
                self._started = True
            await send(message)

        try:
            await self._app(scope, counted_receive, guarded_send)
        except _Refused:
            pass
        except Exception:
            if not self._refused:
                raise


async def _refuse(send: Send, limit: int, seen: str) -> None:
    error = BodyTooLarge(f"{seen}; the limit is {limit} bytes")
    body = error_body(error)
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # No "connection: close": closing a socket with unread data in it sends a
                # reset, which can destroy this answer before a client still sending the body
                # reads it. uvicorn discards what follows of a body whose answer is complete
                # (a parse, no buffer), and closes the connection when it has been idle.
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
