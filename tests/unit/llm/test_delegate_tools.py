"""Delegates as tools: what a profile may offer, the model's tool, the offline responder's
rule, the checks of the agents file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent_actors.errors import Misconfigured
from agent_actors.llm.delegate_tools import named_in
from agent_actors.llm.offline import OfflineResponder
from agent_actors.llm.profiles import AgentProfile, ProfileBook, load_book, offered_delegates
from agent_actors.llm.responder import CallBuffer, Delegated, ReplyContext, ReplyRequest
from agent_actors.llm.tools import DEFAULT_TOOLS
from agent_actors.models import ChatMessage, DelegationLink
from tests.unit.llm.fake_openai import FakeModel, message, tool

BOOK = ProfileBook.model_validate(
    {
        "default": "a",
        "agents": {
            "a": {},
            "coord": {"delegates": ["billing", "shipping"]},
            "billing": {"description": "invoices", "delegates": ["coord", "shipping"]},
            "shipping": {"description": "parcels"},
        },
    }
)
for _name, _profile in BOOK.agents.items():
    _profile.name = _name


def names(profiles: list[AgentProfile]) -> list[str]:
    return [p.name for p in profiles]


def test_a_user_turn_offers_every_delegate() -> None:
    assert names(offered_delegates(BOOK, BOOK.agents["coord"], [])) == ["billing", "shipping"]


def test_a_task_is_never_handed_back_along_its_chain() -> None:
    # billing was asked by coord: it may ask shipping, never coord again (no loop).
    assert names(offered_delegates(BOOK, BOOK.agents["billing"], ["coord"])) == ["shipping"]


def test_depth_is_bounded_by_the_book() -> None:
    shallow = BOOK.model_copy(update={"max_delegation_depth": 1})
    assert names(offered_delegates(shallow, BOOK.agents["coord"], [])) == ["billing", "shipping"]
    assert offered_delegates(shallow, BOOK.agents["billing"], ["coord"]) == []


@pytest.mark.parametrize(
    ("delegates", "reason"),
    [
        ("[ghost]", "delegates to 'ghost', which is not an agent"),
        ("[a]", "delegates to itself"),
        ("[b, b]", "names a delegate twice"),
        ("[b.v2]", "offered as a tool of its name"),
    ],
)
def test_the_file_refuses_bad_delegates(tmp_path: Path, delegates: str, reason: str) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text(
        f"default: a\nagents:\n  a: {{delegates: {delegates}}}\n  b: {{}}\n  b.v2: {{}}\n"
    )
    with pytest.raises(Misconfigured) as raised:
        load_book(path, DEFAULT_TOOLS.names, 3)
    assert reason in raised.value.message


def test_the_offline_responder_asks_the_delegates_a_message_names() -> None:
    delegates = (BOOK.agents["billing"], BOOK.agents["shipping"])
    assert names(named_in("Ask Billing, please.", delegates)) == ["billing"]
    assert named_in("nothing to see", delegates) == []


class Delegates:
    """A delegate that answers from a table (None: it timed out)."""

    def __init__(self, answers: dict[str, str | None]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, str]] = []

    async def __call__(self, agent: str, text: str, position: str | None = None) -> Delegated:
        self.asked.append((agent, text))
        answer = self.answers[agent]
        status = "ok" if answer is not None else "timeout"
        error = None if answer is not None else "no answer within 1 s"
        link = DelegationLink(task_id=f"t-{agent}", delegate=agent, status=status, error=error)
        return Delegated(link, answer)


def ask(content: str, delegate: Delegates) -> tuple[ReplyRequest, ReplyContext]:
    request = ReplyRequest(
        user_id="s1~coord",
        seq=1,
        message=ChatMessage(role="user", content=content),
        profile=BOOK.agents["coord"],
        default_profile=False,
        delegates=(BOOK.agents["billing"], BOOK.agents["shipping"]),
    )
    return request, ReplyContext(calls=CallBuffer(), delegate=delegate)


async def test_an_offline_coordinator_adds_each_answer_and_records_the_links() -> None:
    delegate = Delegates({"billing": "refunded", "shipping": None})
    request, context = ask("ask billing and shipping about order 7", delegate)
    reply = await OfflineResponder().reply(request, context)
    lines = reply.splitlines()
    assert lines[0].startswith("[coord] Memory: Message count: 0. Got your message: ask billing")
    assert lines[1:] == [
        "billing: refunded",
        "shipping: no answer (timeout: no answer within 1 s)",
    ]
    assert [a for a, _ in delegate.asked] == ["billing", "shipping"]
    (record,) = context.calls.records  # type: ignore[attr-defined]
    links = [c.delegation for c in record.tool_calls]
    assert [(x.task_id, x.status) for x in links if x] == [
        ("t-billing", "ok"),
        ("t-shipping", "timeout"),
    ]
    assert all(c.arguments == "" for c in record.tool_calls)  # content is not recorded


async def test_a_model_calls_a_delegate_as_a_tool_and_reads_its_failure() -> None:
    model = FakeModel(
        message(None, [tool("billing", json.dumps({"task": "refund?"}), "c1")]),
        message(None, [tool("shipping", json.dumps({"task": "where?"}), "c2")]),
        message("done"),
    )
    delegate = Delegates({"billing": "refunded", "shipping": None})
    request, context = ask("help", delegate)
    assert await model.responder().reply(request, context) == "done"
    assert delegate.asked == [("billing", "refund?"), ("shipping", "where?")]
    offered = {t["function"]["name"] for t in model.requests[0]["tools"]}
    assert {"billing", "shipping"} <= offered
    # The answers come back as the tools' results; the late one as an error the model reads.
    results = [m for m in model.requests[2]["messages"] if m["role"] == "tool"]
    assert json.loads(results[0]["content"]) == {"agent": "billing", "answer": "refunded"}
    assert "did not answer in time (task t-shipping)" in json.loads(results[1]["content"])["error"]
    records = context.calls.records  # type: ignore[attr-defined]
    links = [c.delegation for r in records for c in r.tool_calls]
    assert [(x.delegate, x.status) for x in links if x] == [
        ("billing", "ok"),
        ("shipping", "timeout"),
    ]


async def test_a_delegates_records_carry_its_task() -> None:
    model = FakeModel(message("an answer"))
    request, context = ask("refund?", Delegates({}))
    request = ReplyRequest(**{**request.__dict__, "task_id": "t-9", "delegates": ()})
    await model.responder().reply(request, context)
    assert [r.task_id for r in context.calls.records] == ["t-9"]  # type: ignore[attr-defined]
    assert "tools" not in model.requests[0] or all(
        t["function"]["name"] not in ("billing", "shipping") for t in model.requests[0]["tools"]
    )
