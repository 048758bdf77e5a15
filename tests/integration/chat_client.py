"""Small helpers the integration tests share to talk to the running service."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

T = TypeVar("T")


def chat(app: httpx.Client, user: str, content: str) -> dict[str, Any]:
    resp = app.post(f"/chat/{user}", json={"role": "user", "content": content})
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def history(
    app: httpx.Client, user: str, agent: str | None = None, **params: int
) -> dict[str, Any]:
    """The history of ``user``'s session: its own thread, or ``agent``'s thread of it."""
    query: dict[str, Any] = {**params, **({"agent": agent} if agent is not None else {})}
    resp = app.get(f"/chat/{user}/history", params=query)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def memory(app: httpx.Client, user: str) -> list[dict[str, Any]]:
    resp = app.get(f"/memory/{user}")
    assert resp.status_code == 200, resp.text
    body: list[dict[str, Any]] = resp.json()["memory"]
    return body


def count(app: httpx.Client, user: str) -> int:
    resp = app.get(f"/response/{user}/count")
    assert resp.status_code == 200, resp.text
    return int(resp.json()["count"])


def approval_url(location: str) -> str:
    """Where to decide the waiting call of the turn a 202's ``Location`` names: ``/approval``
    goes on the path, before the query (a named agent's turn is
    ``/chat/{id}/turns/{seq}?agent=X``, its approvals ``…/turns/{seq}/approval?agent=X``)."""
    url = httpx.URL(location)
    return str(url.copy_with(path=f"{url.path}/approval"))


def with_params(location: str, **params: Any) -> str:
    """``location`` with ``params`` added to its query. httpx's ``params=`` replaces a URL's
    query instead, and would drop a named agent's ``?agent=X`` from a turn's Location."""
    return str(httpx.URL(location).copy_merge_params(params))


def eventually(probe: Callable[[], T], done: Callable[[T], bool], timeout: float = 30) -> T:
    """Poll ``probe`` until ``done`` holds and return that value; past ``timeout`` seconds,
    fail with the last value seen (a wait that ends quietly would hide what never happened)."""
    deadline = time.monotonic() + timeout
    value = probe()
    while not done(value):
        if time.monotonic() >= deadline:
            raise AssertionError(f"not done after {timeout:g} s; last seen: {value!r}")
        time.sleep(0.2)
        value = probe()
    return value
