"""Bounded chat load for the fault tests, and the audit of what it left behind.

Each user sends unique turns (``"<user> turn <i>"``) back to back for a fixed time, retrying
a failed one with its Idempotency-Key; every answer is recorded (status, seq, error code and
detail, ``Retry-After``, or the transport error). The audit then reads each user's whole
history and checks the acknowledged turns against it: present exactly once, in send order,
at the position their seq names, each followed by its own reply.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx

# A turn that failed in a way a retry can fix (503, 504, no answer) is sent again, with the
# same content and Idempotency-Key, after its Retry-After (bounded) or a short pause: what a
# careful client does. The key makes the retry safe if the first attempt committed after all.
MAX_TRIES = 5
ERROR_PAUSE_S = 0.25
MAX_RETRY_AFTER_S = 2.0
SEQ_HEADER = "Turn-Seq"
REPLAYED_HEADER = "Idempotent-Replayed"


@dataclass
class Try:
    """One HTTP attempt of a turn."""

    sent: float
    done: float = 0.0
    status: int | None = None  # None: no HTTP answer (see ``error``)
    seq: int | None = None
    replayed: bool = False
    code: str | None = None
    detail: str | None = None
    retry_after: str | None = None
    error: str | None = None  # "timeout" or the transport error's class name

    @property
    def outcome(self) -> str:
        return str(self.status) if self.status is not None else str(self.error)

    @property
    def retryable(self) -> bool:
        return self.status in (503, 504) or self.status is None


@dataclass
class Turn:
    user: str
    index: int
    content: str
    key: str
    tries: list[Try] = field(default_factory=list)

    @property
    def sent(self) -> float:
        return self.tries[0].sent

    @property
    def done(self) -> float:
        return self.tries[-1].done

    @property
    def status(self) -> int | None:
        return self.tries[-1].status

    @property
    def seq(self) -> int | None:
        return self.tries[-1].seq

    @property
    def outcome(self) -> str:
        return self.tries[-1].outcome


@dataclass
class LoadRun:
    users: list[str]
    turns: list[Turn] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0

    def of(self, user: str) -> list[Turn]:
        return [t for t in self.turns if t.user == user]  # appended in send order per user

    @property
    def tries(self) -> list[Try]:
        return [a for t in self.turns for a in t.tries]

    @property
    def acked(self) -> list[Turn]:
        return [t for t in self.turns if t.status == 200]

    def failures(self) -> Counter[str]:
        """Failed attempts by status (or transport error), retried ones included."""
        return Counter(a.outcome for a in self.tries if a.status != 200)

    def first_ok_after(self, moment: float) -> float | None:
        """Seconds from ``moment`` to the first 200 of an attempt sent after it."""
        done = [a.done for a in self.tries if a.status == 200 and a.sent >= moment]
        return min(done) - moment if done else None

    def longest_gap(self) -> float:
        """The longest time no turn was acknowledged (what the users saw as the outage)."""
        marks = sorted([self.started, *(t.done for t in self.acked), self.ended])
        return max((b - a for a, b in pairwise(marks)), default=0.0)


async def _user(
    client: httpx.AsyncClient,
    user: str,
    gate: asyncio.Event | None,
    deadline: float,
    run: LoadRun,
) -> None:
    if gate is not None:
        await gate.wait()
    i = 0
    while time.monotonic() < deadline:
        turn = Turn(user, i, f"{user} turn {i}", key=uuid.uuid4().hex)
        run.turns.append(turn)
        while True:
            attempt = await send(client, turn)
            if not attempt.retryable or len(turn.tries) == MAX_TRIES:
                break
            await asyncio.sleep(pause_after(attempt, len(turn.tries)))
            if time.monotonic() >= deadline:
                break
        if turn.status != 200:
            await asyncio.sleep(pause_after(turn.tries[-1], len(turn.tries)))
        i += 1


async def send(client: httpx.AsyncClient, turn: Turn) -> Try:
    attempt = Try(time.monotonic())
    turn.tries.append(attempt)
    try:
        resp = await client.post(
            f"/chat/{turn.user}",
            json={"role": "user", "content": turn.content},
            headers={"Idempotency-Key": turn.key},
        )
    except httpx.TimeoutException:
        attempt.error = "timeout"
    except httpx.TransportError as exc:
        attempt.error = type(exc).__name__
    else:
        record(attempt, resp)
    attempt.done = time.monotonic()
    return attempt


def record(attempt: Try, resp: httpx.Response) -> None:
    attempt.status = resp.status_code
    attempt.retry_after = resp.headers.get("retry-after")
    attempt.replayed = resp.headers.get(REPLAYED_HEADER) == "true"
    try:
        body: Any = resp.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        attempt.detail = resp.text[:200]
        return
    if resp.status_code == 200:
        # The turn's seq: in the body, or (the tutorial's body shape kept) in a header.
        seq = body.get("seq", resp.headers.get(SEQ_HEADER))
        attempt.seq = int(seq) if seq is not None else None
    else:
        attempt.code, attempt.detail = body.get("code"), body.get("detail")


def pause_after(attempt: Try, tries: int) -> float:
    """Retry-After when the answer has one, else an exponential backoff; bounded either way."""
    backoff = ERROR_PAUSE_S * 2 ** (tries - 1)
    try:
        wanted = float(attempt.retry_after) if attempt.retry_after else backoff
    except ValueError:
        wanted = backoff
    return max(ERROR_PAUSE_S, min(wanted, MAX_RETRY_AFTER_S))


async def run_load(
    app_url: str,
    run: LoadRun,
    duration_s: float,
    *,
    client_timeout_s: float = 30.0,
    gates: dict[str, asyncio.Event] | None = None,
) -> LoadRun:
    """Every user of ``run`` sends turns until ``duration_s`` is over (a user in ``gates``
    starts when its event is set), recording them in ``run`` as they go, so a fault injector
    can watch; a turn in flight at the end gets ``client_timeout_s`` to answer."""
    users = run.users
    run.started = time.monotonic()
    deadline = run.started + duration_s
    # One client (one connection) per user: a shared pool costs more CPU per request than the
    # service does on this 2-core machine (bench/client.py).
    clients = [
        httpx.AsyncClient(
            base_url=app_url,
            timeout=client_timeout_s,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
        for _ in users
    ]
    try:
        await asyncio.gather(
            *(
                _user(c, u, (gates or {}).get(u), deadline, run)
                for c, u in zip(clients, users, strict=True)
            )
        )
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    run.ended = time.monotonic()
    return run


# -- reading back ------------------------------------------------------------------------------


def full_history(app: httpx.Client, user: str) -> dict[str, Any]:
    """Every entry of ``user``'s history (paged), with the newest page's total and pending."""
    entries: list[dict[str, Any]] = []
    params: dict[str, int] = {"limit": 200}
    newest: dict[str, Any] | None = None
    while True:
        resp = app.get(f"/chat/{user}/history", params=params)
        assert resp.status_code == 200, f"history of {user}: {resp.status_code} {resp.text}"
        page = resp.json()
        newest = newest or page
        entries = page["history"] + entries
        if page["next_before"] is None:
            break
        params["before"] = page["next_before"]
    return {**newest, "history": entries}


@dataclass
class Audit:
    lost: list[str] = field(default_factory=list)  # acknowledged, not in history
    duplicated: list[str] = field(default_factory=list)  # in history more than once
    misplaced: list[str] = field(default_factory=list)  # out of order, wrong seq, wrong reply
    foreign: list[str] = field(default_factory=list)  # in history, never sent
    committed_failures: list[str] = field(default_factory=list)  # not a 200, yet in history
    unnumbered: list[str] = field(default_factory=list)  # a 200 without its seq

    def add(self, other: Audit) -> None:
        for name in self.__dataclass_fields__:
            getattr(self, name).extend(getattr(other, name))


def audit_user(turns: list[Turn], entries: list[dict[str, Any]]) -> Audit:
    found = Audit()
    asks, replies = entries[0::2], entries[1::2]
    if len(asks) != len(replies):
        found.misplaced.append(f"{len(entries)} entries: a turn is half saved")
    where: dict[str, list[int]] = {}
    for pos, (ask, reply) in enumerate(zip(asks, replies, strict=False)):
        where.setdefault(ask["content"], []).append(pos)
        own = f"Got your message: {ask['content']} at"
        if ask["role"] != "user" or reply["role"] != "assistant" or own not in reply["content"]:
            found.misplaced.append(f"entry {2 * pos}: {ask!r} is not followed by its reply")
    sent = {t.content: t for t in turns}
    found.foreign += [c for c in where if c not in sent]
    found.duplicated += [f"{c} x{len(p)}" for c, p in where.items() if len(p) > 1]
    last = -1
    for t in turns:
        places = where.get(t.content, [])
        if t.status != 200:
            if places:
                found.committed_failures.append(f"{t.content} ({t.outcome})")
            continue
        if not places:
            found.lost.append(f"{t.content} (seq {t.seq})")
            continue
        if places[0] <= last:
            found.misplaced.append(f"{t.content} at entry {2 * places[0]}, before an earlier 200")
        if t.seq is None:
            found.unnumbered.append(t.content)
        elif t.seq != places[0] + 1:
            found.misplaced.append(f"{t.content}: answered seq {t.seq}, is turn {places[0] + 1}")
        last = places[0]
    return found


# -- logs --------------------------------------------------------------------------------------


class LogMark:
    """Where each log of a stack ended when the mark was taken, to quote only what followed."""

    def __init__(self, log_dir: Path) -> None:
        self._dir = log_dir
        self._sizes = {p.name: p.stat().st_size for p in log_dir.glob("*.log")}

    def since(self, name: str) -> list[str]:
        path = self._dir / name
        try:
            with path.open("rb") as f:
                f.seek(self._sizes.get(name, 0))
                return f.read().decode(errors="replace").splitlines()
        except OSError:
            return []

    def excerpt(self, patterns: tuple[str, ...], limit: int = 8) -> list[str]:
        """Each distinct message (ids, numbers and times masked) matching ``patterns``, with
        how often it came, the first ``limit`` per log."""
        out: list[str] = []
        for path in sorted(self._dir.glob("*.log")):
            seen: dict[str, tuple[str, int]] = {}
            for line in self.since(path.name):
                if any(p in line for p in patterns):
                    key = MASK.sub("#", line)[:160]
                    first, n = seen.get(key, (line, 0))
                    seen[key] = (first, n + 1)
            for first, n in list(seen.values())[:limit]:
                out.append(f"{path.name} (x{n}): {first.strip()[:400]}")
            if len(seen) > limit:
                out.append(f"{path.name}: ... {len(seen) - limit} more distinct messages")
        return out


# What differs between two lines of the same message: times, numbers, user ids, addresses.
MASK = re.compile(r"[0-9a-f]{6,}|\d+")
