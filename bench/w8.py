"""W8, delegation: 32 sessions whose every turn hands a task to one specialist with a 100 ms
model, next to the same sessions talking to that specialist directly.

A stack of its own on the OpenAI-protocol stub (tools/openai_stub, no delay of its own) and an
agents file with a coordinator whose one delegate is ``billing``. Two closed loops of 32
workers, fresh sessions each:

- direct: each turn talks to ``billing`` (``"agent": "billing"``) with ``[[delay:0.1]]``: one
  100 ms model call;
- delegated: each turn talks to ``coordinator`` with ``[[tool:billing:{"task": ...}]]``: the
  coordinator's model (instant) calls billing's tool, the task goes over pub/sub to billing's
  thread of the session, whose model call takes 100 ms (the delay marker is inside the task,
  escaped as JSON unicode so the coordinator's own requests do not see it), then the
  coordinator's model (instant) answers with the tool's result.

The added latency of a delegation, per task: the coordinator's record of it
(``GET /chat/{id}/calls?agent=coordinator``: ``delegation.latency_ms``, publish -> reply heard,
in the coordinator's process) minus the delegate's own model call as the stub timed it (its
request whose text is the task's: each task's text names its worker and turn, so it is
unique). Client side, more simply: p50 of a delegated turn - p50 of a direct turn. Then the
same delegated loop at one session, a few seconds: what a delegation adds when nothing queues.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.client import Connection, Connections
from bench.cpu import CpuMeter
from bench.display import Display
from bench.load import Op, closed_loop, latency_ms, percentile
from bench.sizes import Sizes
from bench.stack import STUB_SERVER, openai_stub_process, running_stack

# The figures W8 puts at the top of the result document.
FIGURES = (
    "w8_turns_per_s",
    "w8_p50_ms",
    "w8_p99_ms",
    "w8_delegation_overhead_p50_ms",
    "w8_delegation_overhead_p99_ms",
    "w8_added_p50_ms",
    "w8_delegation_overhead_1_session_p50_ms",
)
DELEGATE = "billing"
AGENTS = """\
default: assistant
agents:
  assistant: {}
  coordinator:
    description: asks the billing specialist
    delegates: [billing]
    delegate_timeout_s: 30
  billing: {description: invoices and refunds}
"""
CALLS_PAGE = 200  # the most GET /chat/{id}/calls gives at once, and what a user keeps
TURN_TIMEOUT_S = 60.0  # a turn slower than this is an error (keeps the run bounded)
QUANTILES = range(0, 101)  # the latency distribution kept for the chart


def skipped(reason: str) -> dict[str, Any]:
    return {"skipped": f"W8 skipped: {reason}", **dict.fromkeys(FIGURES)}


def task_text(delay_s: float, tag: str, worker: int, turn: int) -> str:
    """The delegate's message: a model delay, and the worker and turn (unique in a run)."""
    return f"[[delay:{delay_s:g}]] {tag} w{worker} n{turn}"


def tool_marker(agent: str, task: str) -> str:
    """The stub's marker that makes the model call ``agent``'s tool with ``task``. Brackets in
    the task are escaped as JSON unicode: the marker's arguments cannot hold a ``]``, and the
    request carrying the marker must not act on the task's own markers."""
    args = json.dumps({"task": task}).replace("[", "\\u005b").replace("]", "\\u005d")
    return f"[[tool:{agent}:{args}]]"


def model_ms_by_text(requests: Iterable[dict[str, Any]]) -> dict[str, float]:
    """The stub's answered requests, by their current user message: how long each took (ms).
    A text seen twice (a retried model call) is left out: its time is no one call's."""
    seen: dict[str, float] = {}
    twice: set[str] = set()
    for r in requests:
        if r.get("status") != 200 or r.get("ended") is None:
            continue
        text = r["text"]
        if text in seen:
            twice.add(text)
        seen[text] = (r["ended"] - r["started"]) * 1000
    return {t: ms for t, ms in seen.items() if t not in twice}


def delegation_links(records: Iterable[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(task text, delegation link) of every delegating tool call in the call records."""
    links = []
    for record in records:
        for call in record.get("tool_calls") or []:
            link = call.get("delegation")
            if not link:
                continue
            try:
                task = json.loads(call.get("arguments") or "")["task"]
            except (ValueError, KeyError, TypeError):
                task = ""
            links.append((task, link))
    return links


def overheads(
    links: Iterable[tuple[str, dict[str, Any]]],
    model_ms: dict[str, float],
    counted: set[str] | None = None,
) -> dict[str, Any]:
    """Per answered delegation: its latency in the coordinator minus the delegate's model
    call. ``counted``: the task texts to count (the turns inside the measured window)."""
    added: list[float] = []
    unmatched = not_ok = 0
    for task, link in links:
        if counted is not None and task not in counted:
            continue
        if link.get("status") != "ok":
            not_ok += 1
        elif task in model_ms:
            added.append(link["latency_ms"] - model_ms[task])
        else:
            unmatched += 1
    return {
        "delegations": len(added),
        "not_ok": not_ok,
        "unmatched": unmatched,
        **latency_ms([ms / 1000 for ms in added]),
    }


def write_agents(run_dir: Path) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "agents.yaml"
    path.write_text(AGENTS)
    return path


def delegated_answer(reply: dict[str, Any]) -> bool:
    """Whether the coordinator answered with its delegate's answer (the stub's "tool NAME
    said: <result>", the result holding the delegate's model's reply)."""
    content = str(reply["response"]["content"])
    return content.startswith(f"tool {DELEGATE} said: ") and "stub reply to: " in content


async def run_w8(run_dir: Path, sizes: Sizes, display: Display, tag: str) -> dict[str, Any]:
    if not STUB_SERVER.exists():
        return skipped("no OpenAI responder (tools/openai_stub/server.py is missing)")
    agents = write_agents(run_dir)
    with openai_stub_process(0.0, run_dir / "logs" / "openai_stub.log") as (base_url, stub_pid):
        env = {
            "OPENAI_BASE_URL": base_url,
            "OPENAI_API_KEY": "x",
            "AGENT_ACTORS_AGENTS__FILE": str(agents),
        }
        with running_stack(run_dir, app_env=env) as stack:
            stub = Connection("127.0.0.1", urlsplit(base_url).port or 80)
            try:
                async with Connections(
                    "127.0.0.1", stack.app_port, timeout_s=TURN_TIMEOUT_S
                ) as conns:
                    pids = {**stack.pids(), "model stub": stub_pid}
                    return await measure(Bench(conns, stub, pids, sizes, display, tag))
            finally:
                await stub.close()


@dataclass
class Bench:
    """What every phase uses: the app's and the stub's connections, the processes to meter,
    the run's sizes, the display and the run's tag."""

    conns: Connections
    stub: Connection
    pids: dict[str, int]
    sizes: Sizes
    display: Display
    tag: str


async def measure(b: Bench) -> dict[str, Any]:
    sizes = b.sizes
    probe_task = task_text(sizes.w8_model_delay_s, b.tag, -1, 0)
    probe = await b.conns[0].post(
        f"/chat/{b.tag}-w8-probe",
        {"content": tool_marker(DELEGATE, probe_task), "agent": "coordinator"},
    )
    if probe.status_code != 200:
        return skipped(f"the app answered {probe.status_code}: {probe.text[:200]}")
    if not delegated_answer(probe.json()):
        return skipped(f"no delegation: {probe.text[:200]}")
    users = sizes.w8_users
    direct = await direct_phase(b, users)
    delegated = await delegated_phase(b, users, "w8c", sizes.w8_duration_s)
    # The same at one session: what a delegation costs when nothing queues (the figure above
    # is that plus the waits of a loaded machine).
    alone = await delegated_phase(b, 1, "w8s", sizes.w8_solo_s)
    over = delegated["overhead"]
    return {
        "users": users,
        "model_delay_s": sizes.w8_model_delay_s,
        "warmup_s": sizes.w8_warmup_s,
        "duration_s": sizes.w8_duration_s,
        "direct": direct,
        "delegated": delegated,
        "one_session": alone,
        "w8_turns_per_s": delegated["turns_per_s"],
        "w8_p50_ms": delegated["p50_ms"],
        "w8_p99_ms": delegated["p99_ms"],
        "w8_delegation_overhead_p50_ms": over["p50_ms"],
        "w8_delegation_overhead_p99_ms": over["p99_ms"],
        "w8_added_p50_ms": round(delegated["p50_ms"] - direct["p50_ms"], 2),
        "w8_delegation_overhead_1_session_p50_ms": alone["overhead"]["p50_ms"],
    }


async def direct_phase(b: Bench, users: int) -> dict[str, Any]:
    """Each turn talks to the delegate itself: one model call of ``w8_model_delay_s``."""
    delay = b.sizes.w8_model_delay_s

    async def direct(worker: int, n: int) -> bool:
        body = {"content": task_text(delay, f"{b.tag} direct", worker, n), "agent": DELEGATE}
        resp = await b.conns[worker].post(f"/chat/{b.tag}-w8d-{worker}", body)
        return resp.status_code == 200

    label = f"W8 direct to {DELEGATE}, {users} users"
    return await phase(b, users, direct, b.sizes.w8_duration_s, label)


async def delegated_phase(b: Bench, users: int, name: str, duration_s: float) -> dict[str, Any]:
    """Each turn of ``users`` coordinator sessions delegates one task; then, per task inside
    the measured window, what the delegation added to the delegate's model call."""
    delay, tag = b.sizes.w8_model_delay_s, b.tag
    ended: dict[str, float] = {}  # task text -> when its turn ended (ok turns only)
    took: dict[str, float] = {}  # task text -> the turn's latency (s)

    async def delegated(worker: int, n: int) -> bool:
        task = task_text(delay, f"{tag} {name}", worker, n)
        body = {"content": tool_marker(DELEGATE, task), "agent": "coordinator"}
        t0 = time.perf_counter()
        resp = await b.conns[worker].post(f"/chat/{tag}-{name}-{worker}", body)
        ok = resp.status_code == 200 and delegated_answer(resp.json())
        if ok:
            ended[task] = time.perf_counter()
            took[task] = ended[task] - t0
        return ok

    await b.stub.post("/_reset")  # this phase's model calls alone
    started = time.perf_counter()
    label = f"W8 delegated, {users} users"
    summary = await phase(b, users, delegated, duration_s, label)
    warm = started + b.sizes.w8_warmup_s
    counted = {task for task, end in ended.items() if warm <= end <= warm + duration_s}
    requests = (await b.stub.get("/_requests")).json()
    model_ms = model_ms_by_text(requests)
    links: list[tuple[str, dict[str, Any]]] = []
    for worker in range(users):
        path = f"/chat/{tag}-{name}-{worker}/calls?agent=coordinator&limit={CALLS_PAGE}"
        page = await b.conns[0].get(path)
        if page.status_code == 200:
            links += delegation_links(page.json()["calls"])
    link_ms = {task: link["latency_ms"] for task, link in links if link.get("status") == "ok"}
    # What the coordinator's turn took besides waiting for its delegate (client side).
    outside = [took[t] * 1000 - link_ms[t] for t in counted if t in link_ms]
    model = [model_ms[t] for t in counted if t in model_ms]
    return {
        "users": users,
        **summary,
        "overhead": overheads(links, model_ms, counted),
        "delegate_model_p50_ms": round(percentile(model, 50), 2),
        "link_latency_p50_ms": round(
            percentile([link_ms[t] for t in counted if t in link_ms], 50), 2
        ),
        "coordinator_outside_delegation_p50_ms": round(percentile(outside, 50), 2),
        "model_calls": len(requests),
    }


async def phase(b: Bench, users: int, op: Op, duration_s: float, label: str) -> dict[str, Any]:
    """A closed loop of ``users`` workers: turns/s, latency, and the CPU each process used
    (a 2-core machine: the app, daprd, Redis, the model stub and the client share it)."""
    meter = CpuMeter(b.pids)
    meter.start()
    result = await closed_loop(
        users,
        op,
        warmup_s=b.sizes.w8_warmup_s,
        duration_s=duration_s,
        display=b.display,
        label=label,
    )
    cpu = meter.stop()
    s = result.summary()
    ok = [x.latency for x in result.samples if x.ok]
    per_s = s["per_s"]
    return {
        "turns_per_s": round(per_s, 2),
        "turns": s["requests"],
        "errors": s["errors"],
        "unfinished": s["unfinished"],
        **latency_ms(ok),
        "quantiles_ms": [round(percentile(ok, q) * 1000, 1) for q in QUANTILES] if ok else [],
        "cpu_cores": cpu,
        # Warm-up included in the CPU's window, not in the turns': a rough figure.
        "app_cpu_ms_per_turn": round(cpu["app"] / per_s * 1000, 2) if per_s else None,
    }
