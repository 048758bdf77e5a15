"""A minimal HTTP/1.1 keep-alive client on asyncio streams: the load generator's instrument.

Why not httpx: measured on this 2-core machine, an ``httpx.AsyncClient`` shared by 64 workers
spent ~10 ms of CPU per request (its connection pool does work per pooled connection for every
request) and became the bottleneck of the benchmark it was driving; 64 single-connection httpx
clients still cost ~3 ms per request. This client costs ~0.1 ms: one connection per worker,
one write per request, Content-Length or chunked bodies, reconnect when the server closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any


class HttpError(Exception):
    """The connection failed or the answer was not HTTP."""


class StaleConnection(OSError):
    """A kept-alive connection the server had closed (idle timeout) before we wrote to it."""


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
    """One keep-alive connection to ``host:port``; not shared between concurrent tasks."""

    def __init__(self, host: str, port: int, timeout_s: float = 90.0) -> None:
        self._host, self._port, self._timeout_s = host, port, timeout_s
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: Any = None) -> Response:
        payload = b"" if body is None else json.dumps(body).encode()
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self._host}:{self._port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        data = head.encode() + payload
        for attempt in (1, 2):
            try:
                return await asyncio.wait_for(self._exchange(data), self._timeout_s)
            except StaleConnection:
                # The server closed it before reading the request: safe to send once more.
                await self.close()
                if attempt == 2:
                    raise HttpError(f"{method} {path}: the server keeps closing") from None
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
                await self.close()
                raise HttpError(f"{method} {path}: {exc!r}") from exc
            except BaseException:
                self._drop()  # cancelled mid-exchange: the stream is out of step, never reuse it
                raise
        raise AssertionError("unreachable")

    async def _exchange(self, data: bytes) -> Response:
        reused = self._writer is not None and not self._writer.is_closing()
        if not reused:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        assert self._reader is not None
        assert self._writer is not None
        try:
            self._writer.write(data)
            status_line = await self._reader.readline()
        except ConnectionError as exc:
            if reused:
                raise StaleConnection(str(exc)) from exc
            raise
        if not status_line:
            if reused:
                raise StaleConnection("the server had closed the kept-alive connection")
            raise OSError("the server closed the connection")
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while (line := await self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._chunked()
        else:
            body = await self._reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return Response(status, body)

    async def _chunked(self) -> bytes:
        assert self._reader is not None
        parts = []
        while size := int((await self._reader.readline()).split(b";")[0], 16):
            parts.append(await self._reader.readexactly(size))
            await self._reader.readline()
        await self._reader.readline()  # the empty trailer
        return b"".join(parts)

    async def post(self, path: str, body: Any = None) -> Response:
        return await self.request("POST", path, body)

    async def get(self, path: str) -> Response:
        return await self.request("GET", path)

    def _drop(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


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
        await asyncio.gather(*(c.close() for c in self._by_worker.values()))
