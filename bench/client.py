"""The load generator's HTTP client: the app's own ``Http1Pool`` (``sidecar/http1.py``), one
per worker so that each worker keeps one keep-alive connection.

Why not httpx: measured on this 2-core machine, an ``httpx.AsyncClient`` shared by 64 workers
spent ~10 ms of CPU per request (its connection pool does work per pooled connection for every
request) and became the bottleneck of the benchmark it was driving; 64 single-connection httpx
clients still cost ~3 ms per request. ``Http1Pool`` costs ~14 µs (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import json
from typing import Any

from agent_actors.sidecar.http1 import Http1Pool, HttpError

__all__ = ["Connection", "Connections", "HttpError", "Response"]

HEADERS = {"Content-Type": "application/json"}


class Response:
    def __init__(self, status: int, body: bytes) -> None:
        self.status_code = status
        self.content = body

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")


class Connection:
    """A worker's keep-alive connection to ``host:port`` (more only if used concurrently).

    ``HttpError`` when no answer came: the connection failed or closed, or ``timeout_s``
    passed. A connection the server closed while idle is replaced, and a GET sent again on it.
    """

    def __init__(self, host: str, port: int, timeout_s: float = 90.0) -> None:
        self._pool = Http1Pool(host, port, timeout_s)

    async def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Response:
        payload = None if body is None else json.dumps(body).encode()
        sent = HEADERS if headers is None else {**HEADERS, **headers}
        status, answer = await self._pool.request(method, path, payload, sent)
        return Response(status, answer)

    async def post(
        self, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Response:
        return await self.request("POST", path, body, headers)

    async def get(self, path: str) -> Response:
        return await self.request("GET", path)

    async def close(self) -> None:
        self._pool.close()


class Connections:
    """One connection per worker index, created on first use, all closed together."""

    def __init__(self, host: str, port: int, timeout_s: float = 90.0) -> None:
        self._host, self._port, self._timeout_s = host, port, timeout_s
        self._by_worker: dict[int, Connection] = {}

    def __getitem__(self, worker: int) -> Connection:
        conn = self._by_worker.get(worker)
        if conn is None:
            conn = self._by_worker[worker] = Connection(self._host, self._port, self._timeout_s)
        return conn

    async def __aenter__(self) -> Connections:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        for conn in self._by_worker.values():
            await conn.close()
