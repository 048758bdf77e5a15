"""Distributed tracing on the real stack: one turn is one trace in Jaeger, with the app's and
daprd's spans for every hop, the memory update that arrives through pub/sub included.

A private stack with tracing on (its own Jaeger, built from tools/jaeger/, on free loopback
ports) and the OpenAI-protocol stub as the model, so the trace also holds the model calls and
the tool call between them.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tools.openai_stub.server import StubServer

from devstack import traceview
from devstack.private import private_stack
from tests.integration.stack_fixture import TEST_TOKEN
from tests.unit.devstack.sockets import is_loopback, open_to_receive

APP, DAPRD = "agent-actors", "agent-actors-daprd"
MODEL = "stub-model"
# A word of the user's message: no span may carry it (spans hold names and ids, never text).
SECRET_WORD = "zebra"
POLL_S = 45

# Root to leaf, the spans (service, name) each hop of a turn passes, in order.
TO_MEMORY_READ = [
    (APP, "POST /chat/{id}"),
    (APP, "POST /v1.0/actors/ChatAgent/{id}/method/ProcessMessage"),
    (DAPRD, "CallActor/ChatAgent/ProcessMessage"),
    (APP, "ChatAgent.ProcessMessage"),
    (DAPRD, "CallActor/ResponseAgent/ProcessMessage"),
    (APP, "ResponseAgent.ProcessMessage"),
    # Memory's window through the actor state API, not an actor call.
    (APP, "GET /v1.0/actors/MemoryAgentActor/{id}/state/{key}"),
]
TO_MEMORY_UPDATE = [
    (APP, "POST /chat/{id}"),
    (APP, "ChatAgent.ProcessMessage"),
    (APP, "POST /v1.0/publish/daca-pubsub/user-chat"),
    (DAPRD, "/v1.0/publish/daca-pubsub/user-chat"),
    (DAPRD, "pubsub/user-chat"),
    (APP, "POST /subscribe"),
    (DAPRD, "CallActor/MemoryAgentActor/UpdateMemory"),
    (APP, "MemoryAgentActor.UpdateMemory"),
]
TO_MODEL = [
    (APP, "ResponseAgent.ProcessMessage"),
    (APP, f"chat {MODEL}"),
]
TO_TOOL = [
    (APP, "ResponseAgent.ProcessMessage"),
    (APP, "execute_tool current_time"),
]


class Trace:
    """One trace as Jaeger's query API returns it: spans by id, each with its service."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.id: str = data["traceID"]
        services = {k: p["serviceName"] for k, p in data["processes"].items()}
        self.spans = {s["spanID"]: s for s in data["spans"]}
        for span in data["spans"]:
            span["service"] = services[span["processID"]]
            span["tagmap"] = {t["key"]: t["value"] for t in span["tags"]}

    def names(self) -> set[tuple[str, str]]:
        return {(s["service"], s["operationName"]) for s in self.spans.values()}

    def parent(self, span: dict[str, Any]) -> str | None:
        refs = [r for r in span["references"] if r["refType"] == "CHILD_OF"]
        return refs[0]["spanID"] if refs else None

    def roots(self) -> list[dict[str, Any]]:
        return [s for s in self.spans.values() if self.parent(s) not in self.spans]

    def paths_to(self, service: str, name: str) -> list[list[tuple[str, str]]]:
        """Root to span, for each span of that name (a turn asks the model twice, say)."""
        paths = []
        for leaf in self.spans.values():
            if (leaf["service"], leaf["operationName"]) != (service, name):
                continue
            path, span = [], leaf
            while span is not None:
                path.append((span["service"], span["operationName"]))
                parent = self.parent(span)
                span = self.spans.get(parent) if parent else None
            paths.append(path[::-1])
        return paths

    def named(self, name: str) -> list[dict[str, Any]]:
        return [s for s in self.spans.values() if s["operationName"] == name]


def is_subsequence(wanted: list[tuple[str, str]], path: list[tuple[str, str]]) -> bool:
    it = iter(path)
    return all(step in it for step in wanted)


@pytest.fixture(scope="module")
def traced(stub: StubServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    env = {"OPENAI_BASE_URL": stub.url, "OPENAI_API_KEY": "test-key", "OPENAI_MODEL": MODEL}
    with private_stack(
        tmp_path_factory.mktemp("traced"), app_api_token=TEST_TOKEN, app_env=env, tracing=True
    ) as running:
        yield running


def jaeger(traced: Any) -> httpx.Client:
    return httpx.Client(
        base_url=f"http://127.0.0.1:{traced.settings.stack.jaeger_query_port}", timeout=10
    )


def turn(traced: Any, user: str, headers: dict[str, str] | None = None) -> None:
    body = {"role": "user", "content": f"[[tool:current_time]] {SECRET_WORD} time?"}
    r = httpx.post(f"{traced.app_url}/chat/{user}", json=body, headers=headers, timeout=60)
    assert r.status_code == 200, r.text


def wait_for_trace(client: httpx.Client, find: Any) -> Trace:
    """Poll until the trace holds every hop (daprd and the app export in batches, seconds
    apart); the last one seen otherwise, for the assertions to say what is missing."""
    deadline = time.monotonic() + POLL_S
    trace = None
    wanted = {*TO_MEMORY_READ, *TO_MEMORY_UPDATE, *TO_MODEL, *TO_TOOL}
    while time.monotonic() < deadline:
        trace = find(client)
        if trace is not None and wanted <= trace.names():
            return trace
        time.sleep(1)
    assert trace is not None, "Jaeger holds no trace of the turn"
    return trace


def traces_of_user(client: httpx.Client, user: str) -> list[Trace]:
    """Every trace in which ChatAgent ran for ``user`` (its span carries the actor id)."""
    r = client.get(
        "/api/traces",
        params={
            "service": APP,
            "operation": "ChatAgent.ProcessMessage",
            "tags": json.dumps({"dapr.actor.id": user}),
            "lookback": "1h",
            "limit": 20,
        },
    )
    r.raise_for_status()
    return [Trace(t) for t in r.json()["data"] or []]


def test_one_turn_is_one_trace_through_every_hop(traced: Any, user: str) -> None:
    turn(traced, user)

    def find(client: httpx.Client) -> Trace | None:
        found = traces_of_user(client, user)
        assert len(found) <= 1, f"the turn is split over {len(found)} traces"
        return found[0] if found else None

    with jaeger(traced) as client:
        trace = wait_for_trace(client, find)
        assert client.get(f"/api/traces/{trace.id}").status_code == 200
    missing = {*TO_MEMORY_READ, *TO_MEMORY_UPDATE, *TO_MODEL, *TO_TOOL} - trace.names()
    assert not missing, f"spans missing from the turn's trace: {sorted(missing)}"
    # One tree: a single root (the ingress), every other span under it.
    assert [(s["service"], s["operationName"]) for s in trace.roots()] == [TO_MEMORY_READ[0]]
    # Memory's own load in UpdateMemory is the same state GET: one of them is ResponseAgent's.
    reads = trace.paths_to(*TO_MEMORY_READ[-1])
    assert any(is_subsequence(TO_MEMORY_READ, path) for path in reads), reads
    for wanted in (TO_MEMORY_UPDATE, TO_MODEL, TO_TOOL):
        for path in trace.paths_to(*wanted[-1]):
            assert is_subsequence(wanted, path), f"{wanted[-1]} is reached through {path}"


def test_model_calls_carry_the_genai_conventions_and_no_text(traced: Any, user: str) -> None:
    turn(traced, user)

    def find(client: httpx.Client) -> Trace | None:
        found = traces_of_user(client, user)
        return found[0] if found else None

    with jaeger(traced) as client:
        trace = wait_for_trace(client, find)
    calls = trace.named(f"chat {MODEL}")
    assert len(calls) == 2  # the tool request, then the answer
    for call in calls:
        tags = call["tagmap"]
        assert tags["gen_ai.operation.name"] == "chat"
        assert tags["gen_ai.request.model"] == MODEL
        assert tags["gen_ai.response.model"] == MODEL
        assert tags["gen_ai.usage.input_tokens"] > 0
        assert tags["gen_ai.usage.output_tokens"] > 0
    reasons = sorted(json.loads(c["tagmap"]["gen_ai.response.finish_reasons"])[0] for c in calls)
    assert reasons == ["stop", "tool_calls"]
    leaked = [
        (s["service"], s["operationName"], k)
        for s in trace.spans.values()
        for k, v in s["tagmap"].items()
        if SECRET_WORD in str(v)
    ]
    assert not leaked, f"spans carry the user's words: {leaked}"


def test_a_callers_trace_context_is_continued(traced: Any, user: str) -> None:
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    turn(traced, user, {"traceparent": f"00-{trace_id}-{parent_id}-01"})

    def find(client: httpx.Client) -> Trace | None:
        r = client.get(f"/api/traces/{trace_id}")
        return Trace(r.json()["data"][0]) if r.status_code == 200 else None

    with jaeger(traced) as client:
        trace = wait_for_trace(client, find)
    (root,) = trace.roots()
    assert (root["operationName"], trace.parent(root)) == ("POST /chat/{id}", parent_id)
    assert (APP, "MemoryAgentActor.UpdateMemory") in trace.names()


def test_jaeger_listens_on_loopback_only(traced: Any) -> None:
    """TCP listeners and UDP sockets of the Jaeger process: the three configured ports, none
    of the all-in-one's defaults (Jaeger and Zipkin receivers, sampling, health, metrics)."""
    proc = traced.stack.process("jaeger")
    assert proc.pid is not None
    found = open_to_receive(proc.pid)
    s = traced.settings.stack
    assert {port for *_, port in found} == {
        s.jaeger_otlp_port,
        s.jaeger_query_port,
        s.jaeger_query_grpc_port,
    }
    assert all(is_loopback(address) for _, address, _ in found), found


def test_make_trace_draws_the_newest_turn(traced: Any, user: str, tmp_path: Path) -> None:
    turn(traced, user)
    with jaeger(traced) as client:
        newest = wait_for_trace(client, lambda c: (traces_of_user(c, user) or [None])[0])
    trace = traceview.fetch(traced.settings, None)
    assert trace["traceID"] == newest.id
    table = traceview.rows(trace)
    assert (table[0].depth, table[0].name) == (0, "POST /chat/{id}")
    assert len(table) == len(newest.spans)
    out = tmp_path / "trace.png"
    traceview.draw(trace["traceID"], table, out)
    assert out.read_bytes().startswith(b"\x89PNG")
