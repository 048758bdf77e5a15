"""The app as the workflow probe runs it (``bench/workflow_probe.py``): the real app
(``agent_actors.main:create_app``, unchanged), plus

- a loop-lag meter: a task in uvicorn's event loop that sleeps 10 ms and notes how late it
  woke, so a phase reads how long the loop was held (``GET /_probe/lag`` answers and resets);
- with ``PROBE_WORKFLOW=1``, a Dapr Workflow worker (``dapr.ext.workflow``, in the pinned
  ``dapr`` SDK) in the same process, as an adoption would put it: its own thread and event
  loop, connected to this pair's daprd over gRPC. Its workflow is a long turn of the probe's
  shape: a model call, the tool it asks for, a model call with the result, the commit (a
  state write through daprd), each an activity;
- ``POST /_probe/direct/{id}``: the same steps run in the app's loop with no workflow, so
  the probe can tell the workflow's own cost from its activities';
- ``POST /_probe/workflow/{id}`` schedules one (202 and its instance id) and
  ``GET /_probe/workflow/{instance}?wait=S`` long-polls it, as ``Prefer: respond-async`` and
  ``GET /chat/{id}/turns/{seq}?wait=S`` do for today's long turns.

Probe code only: nothing in src/ knows of it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI, HTTPException

from agent_actors.main import create_app as create_real_app
from agent_actors.settings import get_settings

log = logging.getLogger("bench.workflow_app")

LAG_TICK_S = 0.010
LAG_SPIKE_S = 0.050
ENABLED = "PROBE_WORKFLOW"


class LoopLag:
    """How late each 10 ms sleep of the loop woke, since the last ``take()``."""

    def __init__(self) -> None:
        self.samples: list[float] = []

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + LAG_TICK_S
            await asyncio.sleep(LAG_TICK_S)
            self.samples.append(max(0.0, loop.time() - due))

    def take(self) -> dict[str, float]:
        got, self.samples = sorted(self.samples), []
        if not got:
            return {"ticks": 0, "max_ms": 0.0, "p99_ms": 0.0, "p50_ms": 0.0, "over_50ms": 0}
        return {
            "ticks": len(got),
            "over_50ms": sum(s > LAG_SPIKE_S for s in got),
            "max_ms": round(got[-1] * 1000, 2),
            "p99_ms": round(got[min(len(got) - 1, int(len(got) * 0.99))] * 1000, 2),
            "p50_ms": round(got[len(got) // 2] * 1000, 2),
        }


class Steps:
    """A long turn's steps, with one HTTP client per event loop that runs them (the app's,
    the workflow worker's)."""

    def __init__(self, model_url: str, daprd_http: int, store: str) -> None:
        self._model_url = model_url.rstrip("/") + "/chat/completions"
        self._state_url = f"http://127.0.0.1:{daprd_http}/v1.0/state/{store}"
        self._clients: dict[int, httpx.AsyncClient] = {}

    def _client(self) -> httpx.AsyncClient:
        key = id(asyncio.get_running_loop())
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = httpx.AsyncClient(timeout=60)
        return client

    async def model(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        body = {"model": "stub-model", "messages": messages}
        resp = await self._client().post(self._model_url, json=body)
        resp.raise_for_status()
        message: dict[str, Any] = resp.json()["choices"][0]["message"]
        return message

    @staticmethod
    def tool(call: dict[str, Any]) -> str:
        if call["function"]["name"] != "current_time":
            return "unknown tool"
        return datetime.now(UTC).isoformat(timespec="seconds")

    async def commit(self, key: str, reply: str) -> None:
        resp = await self._client().post(self._state_url, json=[{"key": key, "value": reply}])
        resp.raise_for_status()

    async def turn(self, key: str, content: str) -> str:
        """The steps in order, in the calling loop (``/_probe/direct``)."""
        messages: list[dict[str, Any]] = [{"role": "user", "content": content}]
        first = await self.model(messages)
        messages.append(first)
        for call in first.get("tool_calls") or []:
            messages.append(
                {"role": "tool", "tool_call_id": call["id"], "content": self.tool(call)}
            )
        answer = await self.model(messages)
        await self.commit(key, answer["content"])
        return str(answer["content"])


def QUIET() -> Any:
    from dapr.ext.workflow.logger import LoggerOptions

    return LoggerOptions(log_level="WARNING")


def workflow_runtime(steps: Steps, grpc_port: int) -> Any:
    """The worker, its workflow and activities registered (not started)."""
    import dapr.ext.workflow as wf  # only where the probe asks for it

    # Its per-step INFO lines (twice each: its own handler and the root's) would be most of
    # its cost in the app; an adoption would quiet them too.
    runtime = wf.WorkflowRuntime(host="127.0.0.1", port=str(grpc_port), logger_options=QUIET())

    async def model_call(ctx: wf.WorkflowActivityContext, inp: dict[str, Any]) -> dict[str, Any]:
        return await steps.model(inp["messages"])

    def tool_call(ctx: wf.WorkflowActivityContext, call: dict[str, Any]) -> str:
        return steps.tool(call)

    async def commit(ctx: wf.WorkflowActivityContext, inp: dict[str, Any]) -> None:
        await steps.commit(inp["key"], inp["reply"])

    def long_turn(ctx: wf.DaprWorkflowContext, inp: dict[str, Any]) -> Any:
        messages: list[dict[str, Any]] = [{"role": "user", "content": inp["content"]}]
        first = yield ctx.call_activity(model_call, input={"messages": messages})
        messages.append(first)
        for call in first.get("tool_calls") or []:
            result = yield ctx.call_activity(tool_call, input=call)
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})
        answer = yield ctx.call_activity(model_call, input={"messages": messages})
        yield ctx.call_activity(commit, input={"key": inp["key"], "reply": answer["content"]})
        return answer["content"]

    runtime.register_workflow(long_turn)
    for activity in (model_call, tool_call, commit):
        runtime.register_activity(activity)
    return runtime, long_turn


def create_app() -> FastAPI:
    app = create_real_app()
    # The durabletask loggers take no level from LoggerOptions: the root's (INFO) applies.
    for name in ("durabletask-worker", "durabletask-client", "WorkflowRuntime"):
        logging.getLogger(name).setLevel(logging.WARNING)
    settings = get_settings()
    lag = LoopLag()
    steps = Steps(
        os.environ.get("OPENAI_BASE_URL", ""), settings.dapr.http_port, settings.dapr.state_store
    )
    probe: dict[str, Any] = {"ready": False}
    real_lifespan = app.router.lifespan_context

    def start_worker() -> None:
        # Its start() waits for its gRPC stream; daprd serves it once this app listens, so it
        # must not hold the lifespan up.
        runtime, workflow = workflow_runtime(steps, settings.dapr.grpc_port)
        probe.update(runtime=runtime, workflow=workflow)
        for _ in range(60):
            try:
                runtime.start()
                probe["ready"] = True
                return
            except Exception as exc:
                log.warning("workflow worker not started yet: %r", exc)
                time.sleep(1)

    @asynccontextmanager
    async def lifespan(a: FastAPI) -> AsyncIterator[None]:
        async with real_lifespan(a):
            meter = asyncio.create_task(lag.run())
            if os.environ.get(ENABLED) == "1":
                threading.Thread(target=start_worker, name="probe-worker", daemon=True).start()
            try:
                yield
            finally:
                meter.cancel()
                if probe.get("runtime") is not None:
                    await asyncio.to_thread(probe["runtime"].shutdown)

    app.router.lifespan_context = lifespan

    @app.get("/_probe/lag")
    async def take_lag() -> dict[str, Any]:
        return {**lag.take(), "workflow_ready": probe["ready"], "threads": threading.active_count()}

    @app.post("/_probe/direct/{key}")
    async def direct(key: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"reply": await steps.turn(key, body["content"])}

    def client() -> Any:
        from dapr.ext.workflow.aio import DaprWorkflowClient

        if "client" not in probe:
            probe["client"] = DaprWorkflowClient(
                host="127.0.0.1", port=str(settings.dapr.grpc_port), logger_options=QUIET()
            )
        return probe["client"]

    @app.post("/_probe/workflow/{key}", status_code=202)
    async def schedule(key: str, body: dict[str, Any]) -> dict[str, Any]:
        if not probe["ready"]:
            raise HTTPException(503, "the workflow worker is not ready")
        instance = await client().schedule_new_workflow(
            probe["workflow"], input={"key": key, "content": body["content"]}, instance_id=key
        )
        return {"instance": instance}

    @app.get("/_probe/workflow/{instance}")
    async def state(instance: str, wait: float = 0) -> dict[str, Any]:
        wf_client = client()
        if wait > 0:
            try:
                got = await wf_client.wait_for_workflow_completion(
                    instance, fetch_payloads=True, timeout_in_seconds=int(wait)
                )
            except Exception:  # its wait ran out (the SDK's timeout error, or gRPC's)
                got = await wf_client.get_workflow_state(instance)
        else:
            got = await wf_client.get_workflow_state(instance)
        if got is None:
            raise HTTPException(404, "no such workflow")
        return {"status": got.runtime_status.name, "output": got.serialized_output}

    return app
