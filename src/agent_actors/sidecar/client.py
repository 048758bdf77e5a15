"""The app's one connection pool to its daprd (actor calls, actor state, reminders, publish).

``http1.Http1Pool`` carries the requests, tracing on or off, at a fraction of aiohttp's CPU per
request, and a turn makes about nine; with tracing on it also makes their client spans. Not
httpx: under load the cost of httpcore's pool grows with the number of pooled connections (it
rescans them on every request). Figures: docs/BENCHMARKS.md, "Figures behind the code's
comments". The pool is unbounded on purpose: actor calls nest (API -> ChatAgent -> ResponseAgent
-> MemoryAgentActor), so with a bounded pool the outer calls can hold every connection while the
inner ones they wait for queue for one — a deadlock until the timeout. What a failed call is to
the service is ``failures``' one table.
"""

from __future__ import annotations

from opentelemetry import trace

from agent_actors.settings import DaprSettings
from agent_actors.sidecar import failures
from agent_actors.sidecar.http1 import Http1Pool, HttpError
from agent_actors.tracing import client_route


class Sidecar:
    def __init__(
        self, dapr: DaprSettings, tracer_provider: trace.TracerProvider | None = None
    ) -> None:
        self._dapr = dapr
        # The client spans' tracer; None when tracing is off (tracing.configure).
        self._tracer = None if tracer_provider is None else tracer_provider.get_tracer(__name__)
        self._pool: Http1Pool | None = None

    async def start(self) -> None:
        self._pool = Http1Pool(
            self._dapr.host,
            self._dapr.http_port,
            self._dapr.actor_call_timeout_s,
            tracer=self._tracer,
            route=client_route,
        )

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    async def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """daprd's answer, whatever its status. No answer at all is raised as the domain error
        of the path's API (``failures.unreachable``), here and nowhere else."""
        if self._pool is None:
            raise failures.unreachable(method, path, "the sidecar client is not started")
        sent = {"Content-Type": "application/json", **(headers or {})}
        try:
            return await self._pool.request(method, path, body, sent)
        except HttpError as exc:
            raise failures.unreachable(method, path, exc) from exc

    async def call(self, method: str, path: str, body: bytes | None = None) -> bytes:
        """``request`` where only a 2xx is an answer: any other status is raised as the domain
        error of the path's API (``failures.refused``)."""
        status, answer = await self.request(method, path, body)
        return failures.ok(method, path, status, answer)
