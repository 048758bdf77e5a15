"""The app's one connection pool to its daprd (actor calls, actor state, reminders, publish).

``http1.Http1Pool`` carries the requests: about 14 µs of CPU each where aiohttp took 60-70
(docs/BENCHMARKS.md), and a turn makes about nine. With tracing on, aiohttp carries them
instead, for OpenTelemetry's client spans and ``traceparent``. Not httpx either way: under
load the cost of httpcore's pool grows with the number of pooled connections (it rescans them
on every request: ~10 ms of CPU per request at 64 concurrent turns, measured by `make bench`).
The pool is unbounded on purpose: actor calls nest (API -> ChatAgent -> ResponseAgent ->
MemoryAgentActor), so with a bounded pool the outer calls can hold every connection while the
inner ones they wait for queue for one — a deadlock until the timeout.
"""

from __future__ import annotations

import aiohttp

from agent_actors.settings import DaprSettings
from agent_actors.sidecar import failures
from agent_actors.sidecar.http1 import Http1Pool, HttpError


class Sidecar:
    def __init__(
        self, dapr: DaprSettings, trace_configs: list[aiohttp.TraceConfig] | None = None
    ) -> None:
        self._dapr = dapr
        self._base = f"http://{dapr.host}:{dapr.http_port}"
        self._timeout = aiohttp.ClientTimeout(total=dapr.actor_call_timeout_s, sock_connect=5)
        # Tracing's client spans and `traceparent` (tracing.sidecar_trace_configs); none when off.
        self._trace_configs = trace_configs or []
        self._session: aiohttp.ClientSession | None = None
        self._pool: Http1Pool | None = None

    async def start(self) -> None:
        if not self._trace_configs:
            self._pool = Http1Pool(
                self._dapr.host, self._dapr.http_port, self._dapr.actor_call_timeout_s
            )
            return
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=self._timeout, trace_configs=self._trace_configs
        )

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """daprd's answer, whatever its status. No answer at all is raised as the domain error
        of the path's API (``failures.unreachable``), here and nowhere else."""
        sent = {"Content-Type": "application/json", **(headers or {})}
        if self._pool is not None:
            try:
                return await self._pool.request(method, path, body, sent)
            except HttpError as exc:
                raise failures.unreachable(method, path, exc) from exc
        if self._session is None:
            raise failures.unreachable(method, path, "the sidecar client is not started")
        try:
            async with self._session.request(
                method,
                self._base + path,
                data=body,
                headers=sent,
            ) as resp:
                return resp.status, await resp.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise failures.unreachable(method, path, repr(exc)) from exc

    async def call(self, method: str, path: str, body: bytes | None = None) -> bytes:
        """``request`` where only a 2xx is an answer: any other status is raised as the domain
        error of the path's API (``failures.refused``)."""
        status, answer = await self.request(method, path, body)
        return failures.ok(method, path, status, answer)
