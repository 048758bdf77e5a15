"""Reading a whole request and sending a whole answer in plain ASGI.

Shared by the two paths daprd takes on every turn and that are served before FastAPI's
routing: actor method calls (``actor_calls.py``) and event deliveries
(``event_deliveries.py``).
"""

from __future__ import annotations

from starlette.types import Message, Receive, Send


async def respond(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    """A whole answer of a path served before FastAPI's routing."""
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive) -> bytes | None:
    """The whole body, or None when the caller went away before it came."""
    chunks: list[bytes] = []
    while True:
        message: Message = await receive()
        if message["type"] != "http.request":
            return None  # http.disconnect
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
