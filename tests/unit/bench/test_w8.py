"""W8's own arithmetic: the tool marker the stub reads, and matching each delegation to the
delegate's model call to find what the delegation added."""

from __future__ import annotations

import json

from bench.w8 import (
    delegation_links,
    model_ms_by_text,
    overheads,
    task_text,
    tool_marker,
)
from tools.openai_stub.server import MARKER, StubState, decide


def test_the_marker_carries_the_task_with_its_own_markers_hidden() -> None:
    task = task_text(0.1, "b1", 3, 7)
    assert task == "[[delay:0.1]] b1 w3 n7"
    marker = tool_marker("billing", task)
    # One marker only (the task's delay is not one the coordinator's request acts on) ...
    (found,) = MARKER.finditer(marker)
    assert found.group(1) == "tool"
    name, _, args = found.group(2).partition(":")
    assert name == "billing"
    # ... and the arguments the model sends decode to the task as it was.
    assert json.loads(args) == {"task": task}
    answer = decide(StubState(), marker, repair=False, tool_results=0, results=[])
    assert [(n, json.loads(a)) for n, a in answer.tools] == [("billing", {"task": task})]


def request(text: str, started: float, ended: float | None, status: int = 200) -> dict:
    return {"text": text, "started": started, "ended": ended, "status": status}


def test_model_time_by_text_leaves_out_unanswered_and_repeated_texts() -> None:
    times = model_ms_by_text(
        [
            request("a", 10.0, 10.1),
            request("b", 10.0, None),  # still running
            request("c", 10.0, 10.2, status=503),
            request("d", 10.0, 10.1),
            request("d", 11.0, 11.1),  # retried: no one call's time
        ]
    )
    assert times.keys() == {"a"}
    assert abs(times["a"] - 100.0) < 1e-6


def record(*calls: dict) -> dict:
    return {"seq": 1, "tool_calls": list(calls)}


def call(task: str | None, latency_ms: int, status: str = "ok") -> dict:
    arguments = "" if task is None else json.dumps({"task": task})
    link = {"task_id": "t", "delegate": "billing", "status": status, "latency_ms": latency_ms}
    return {"name": "billing", "arguments": arguments, "delegation": link}


def test_overhead_is_the_link_latency_less_the_delegates_model_call() -> None:
    records = [
        record(call("one", 130), {"name": "current_time", "arguments": "{}"}),
        record(call("two", 150)),
        record(call("three", 30_000, status="timeout")),
        record(call("four", 140)),  # no model call seen for it
        record(call(None, 120)),  # arguments not recorded
        record(call("early", 900)),  # a turn outside the measured window
    ]
    links = delegation_links(records)
    assert [task for task, _ in links] == ["one", "two", "three", "four", "", "early"]
    model = {"one": 100.0, "two": 110.0, "early": 100.0}
    counted = {"one", "two", "three", "four", ""}
    out = overheads(links, model, counted)
    assert (out["delegations"], out["not_ok"], out["unmatched"]) == (2, 1, 2)
    assert out["p50_ms"] == 35.0  # 30 and 40
    assert out["max_ms"] == 40.0
    everything = overheads(links, model)
    assert everything["delegations"] == 3
    assert everything["max_ms"] == 800.0
