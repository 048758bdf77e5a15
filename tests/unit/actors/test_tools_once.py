"""No tool runs twice: a long turn's run saves its progress through tool calls, and a run
started again after a lost one goes on from there (the real responder on a fake model, the
actors on the SDK's mock actors; a lost run is its task cancelled, as a kill leaves it)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from agent_actors.actors.long_turns import LongTurns
from agent_actors.actors.run_steps import fit_step
from agent_actors.actors.services import ActorDeps
from agent_actors.actors.turn_record import TURN_KEY
from agent_actors.llm.approvals import INTERRUPTED_REASON, AskedCall, PausedReply
from agent_actors.llm.mcp_tools import ToolCatalog
from agent_actors.llm.profiles import AgentProfile, ProfileBook, ToolGrant
from agent_actors.llm.tools import NoArgs, Tool, ToolContext, ToolRegistry
from agent_actors.sidecar.boundary import unwrap
from agent_actors.store import payload
from tests.unit.actors.test_long_turns import (
    USER,
    calls,
    chat,
    fire,
    settled,
    start,
    state,
    turn,
    view,
)
from tests.unit.llm.fake_openai import FakeModel, message, tool
from tests.unit.twins import LocalActors, make_deps


class Counted:
    """A tool that counts its runs; while ``hold`` is set a run waits for ``release``."""

    def __init__(self) -> None:
        self.runs = 0
        self.hold = False
        self.running = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, _args: NoArgs, _ctx: ToolContext) -> str:
        self.runs += 1
        self.running.set()
        if self.hold:
            await self.release.wait()
        return f"run {self.runs}"


class Gate:
    """A model answer that waits until ``open`` is set (the run can be lost meanwhile)."""

    def __init__(self, answer: httpx.Response) -> None:
        self.answer = answer
        self.asked = asyncio.Event()
        self.open = asyncio.Event()

    async def __call__(self, _body: dict[str, Any]) -> httpx.Response:
        self.asked.set()
        await self.open.wait()
        return self.answer


def wire(deps: ActorDeps, model: FakeModel, counted: Counted, idempotent: bool = True) -> None:
    """The model and one tool, ``count``, the default agent's only one."""
    registry = ToolRegistry([Tool("count", "Counts its runs.", NoArgs, counted)])
    deps.profiles = ProfileBook(
        default="a",
        agents={
            "a": AgentProfile(name="a", tools=[ToolGrant(name="count", idempotent=idempotent)])
        },
    )
    deps.responder = model.responder(tools=ToolCatalog(builtins=registry))


async def until(event: asyncio.Event) -> None:
    async with asyncio.timeout(5):
        await event.wait()


def lose_run(deps: ActorDeps) -> None:
    """The app dies: its run is gone (no result, no report)."""
    deps.runs.cancel(USER)


async def lost_in_tool(
    final: str, idempotent: bool = True
) -> tuple[ActorDeps, LocalActors, Counted, FakeModel]:
    """A long turn whose run is lost while its model's one tool call runs; the reminder has
    not come yet (the tool, held until then, answers at once from there on)."""
    deps, actors, _ = make_deps()
    counted = Counted()
    counted.hold = True
    model = FakeModel(message(None, [tool("count", "{}")]), message(final))
    wire(deps, model, counted, idempotent)
    await start(actors, "count it")
    await until(counted.running)
    lose_run(deps)
    assert state(actors)[TURN_KEY]["paused"]["calls"][0]["attempts"] == 1
    counted.hold = False
    return deps, actors, counted, model


async def test_a_recorded_result_is_used_when_the_turn_starts_again() -> None:
    deps, actors, _ = make_deps()
    counted = Counted()
    final = Gate(message("never sent"))
    model = FakeModel(message(None, [tool("count", "{}")]), final, message("counted once"))
    wire(deps, model, counted)
    await start(actors, "count it")
    # The tool returned and its result was saved; the app dies before the model's answer.
    await until(final.asked)
    lose_run(deps)
    assert state(actors)[TURN_KEY]["paused"]["calls"][0]["result"] == "run 1"
    await fire(actors)
    await settled(deps)
    done = await view(actors, 1)
    assert (done["status"], done["response"]["content"]) == ("done", "counted once")
    assert counted.runs == 1
    # The new run sent the model the recorded result.
    assert model.requests[-1]["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": "run 1",
    }
    records = await calls(actors)
    assert [(r["purpose"], r["resumed"]) for r in records] == [("reply", 0), ("tool_step", 1)]
    [asked] = records[0]["tool_calls"]
    assert (asked["result"], asked["attempt"], asked["resumed_after_crash"]) == ("run 1", 1, False)


async def test_a_call_running_at_the_crash_runs_again_once_and_says_so() -> None:
    deps, actors, counted, _ = await lost_in_tool("counted")
    await fire(actors)
    await settled(deps)
    assert (await view(actors, 1))["status"] == "done"
    assert counted.runs == 2
    records = await calls(actors)
    [asked] = records[0]["tool_calls"]
    assert (asked["result"], asked["attempt"], asked["resumed_after_crash"]) == ("run 2", 2, True)


async def test_a_call_lost_twice_is_not_run_a_third_time() -> None:
    deps, actors, _ = make_deps()
    counted = Counted()
    counted.hold = True
    model = FakeModel(message(None, [tool("count", "{}")]), message("gave up"))
    wire(deps, model, counted)
    await start(actors, "count it")
    for runs in (1, 2):
        await until(counted.running)
        assert counted.runs == runs
        counted.running.clear()
        lose_run(deps)
        await fire(actors)
    await settled(deps)
    assert (await view(actors, 1))["status"] == "done"
    assert counted.runs == 2
    result = json.loads(model.requests[-1]["messages"][-1]["content"])
    assert "not run a third time" in result["error"]
    [asked] = (await calls(actors))[0]["tool_calls"]
    assert (asked["attempt"], asked["resumed_after_crash"]) == (2, True)


async def test_a_call_of_a_tool_not_idempotent_waits_for_a_person_after_a_crash() -> None:
    deps, actors, counted, model = await lost_in_tool("sent", idempotent=False)
    await fire(actors)
    await settled(deps)
    waiting = await view(actors, 1)
    assert waiting["status"] == "awaiting_approval"
    assert waiting["approval"]["tool"] == "count"
    assert waiting["approval"]["reason"] == INTERRUPTED_REASON
    assert counted.runs == 1
    assert len(model.requests) == 1
    answer = {"seq": 1, "call_id": waiting["approval"]["call_id"], "approve": True, "by": "ops"}
    unwrap(await chat(actors).DecideApproval(answer))
    await settled(deps)
    done = await view(actors, 1)
    assert (done["status"], done["response"]["content"]) == ("done", "sent")
    assert counted.runs == 2
    [asked] = (await calls(actors))[0]["tool_calls"]
    assert (asked["approved_by"], asked["attempt"], asked["resumed_after_crash"]) == (
        "ops",
        2,
        True,
    )


async def test_a_denied_rerun_goes_to_the_model_as_a_tool_error() -> None:
    deps, actors, counted, model = await lost_in_tool("not sent", idempotent=False)
    await fire(actors)
    await settled(deps)
    waiting = await view(actors, 1)
    answer = {"seq": 1, "call_id": waiting["approval"]["call_id"], "approve": False, "by": "ops"}
    unwrap(await chat(actors).DecideApproval(answer))
    await settled(deps)
    assert (await view(actors, 1))["status"] == "done"
    assert counted.runs == 1
    assert "denied" in json.loads(model.requests[-1]["messages"][-1]["content"])["error"]


async def test_a_run_its_turn_no_longer_waits_for_runs_no_tool() -> None:
    # A run taken for lost may still be alive (an actor moved while its old host lived on):
    # its save is refused, and it stops before the tool runs.
    deps, actors, _ = make_deps()
    counted = Counted()
    first = Gate(message(None, [tool("count", "{}")]))
    model = FakeModel(first, message(None, [tool("count", "{}")]), message("counted"))
    wire(deps, model, counted)
    await start(actors, "count it")
    await until(first.asked)
    old = deps.runs.get(USER)
    assert old is not None
    deps.runs._runs.pop(USER)  # forgotten here, still running
    await fire(actors)
    await settled(deps)
    assert (await view(actors, 1))["status"] == "done"
    first.open.set()
    await asyncio.wait({old.task})
    assert counted.runs == 1


async def test_a_turn_inside_an_actor_call_saves_no_step(monkeypatch: pytest.MonkeyPatch) -> None:
    deps, actors, _ = make_deps()
    counted = Counted()
    wire(deps, FakeModel(message(None, [tool("count", "{}")]), message("counted")), counted)
    saved: list[Any] = []

    async def save_step(self: LongTurns, *args: Any) -> bool:
        saved.append(args)
        return True

    monkeypatch.setattr(LongTurns, "save_step", save_step)
    assert (await turn(actors, "count it"))["content"] == "counted"
    assert (counted.runs, saved) == (1, [])


def test_a_step_too_large_for_an_actor_payload_has_its_results_cut() -> None:
    big = "é" * 50_000
    call = AskedCall(id="c1", name="count", arguments="{}", attempts=1, result=big)
    step = PausedReply(
        messages=[{"role": "tool", "tool_call_id": "c0", "content": big}],
        after_prompt=True,
        calls=[call],
        decisions=[None],
    )
    assert fit_step(step, 1_000_000) is step
    cut = fit_step(step, 20_000)
    assert payload.encoded_size(cut) <= 20_000
    assert (cut.calls[0].result or "").endswith("…")
    assert step.calls[0].result == big  # the run's own copy is left whole
