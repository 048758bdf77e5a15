"""Agent profiles through the API on the in-memory twin: a thread per agent, the conversation
from before threads, list."""

from __future__ import annotations

from unittest.mock import ANY

import httpx
from fastapi.testclient import TestClient

from agent_actors.actors.interfaces import ChatAgentInterface
from agent_actors.llm.profiles import packaged_book
from agent_actors.llm.responder import ReplyContext, ReplyRequest
from agent_actors.models import ActorTypes, ChatMessage
from agent_actors.sidecar.boundary import unwrap
from tests.sse import events_of
from tests.unit.twins import LocalActors, make_deps

Twins = tuple[TestClient, LocalActors]


def post(client: TestClient, user: str, content: str, agent: str | None = None) -> httpx.Response:
    body = {"role": "user", "content": content}
    if agent is not None:
        body["agent"] = agent
    return client.post(f"/chat/{user}", json=body)


def reply_of(resp: httpx.Response) -> str:
    assert resp.status_code == 200, resp.text
    content: str = resp.json()["response"]["content"]
    return content


def test_each_agent_named_talks_in_its_own_thread_of_the_session(twins: Twins) -> None:
    client, _ = twins
    assert reply_of(post(client, "u1", "hi", agent="support")).startswith("[support] Memory:")
    # Left out: the default's thread, the session's own; named again: support's thread.
    assert reply_of(post(client, "u1", "plain")).startswith("Memory: Message count: 1. ")
    assert reply_of(post(client, "u1", "more", agent="support")).startswith("[support] ")
    assert reply_of(post(client, "u1", "hello", agent="assistant")).startswith("Memory: ")
    summary = client.get("/chat/u1").json()
    assert (summary["agent"], summary["turns"]) == ("assistant", 2)
    assert [(a["agent"], a["turns"]) for a in summary["agents"]] == [
        ("assistant", 2),
        ("support", 2),
    ]
    support = client.get("/chat/u1", params={"agent": "support"}).json()
    assert (support["agent"], support["turns"], support["id"]) == ("support", 2, "u1")
    assert (support["profile"]["memory_window"], support["profile"]["prompt_history"]) == (0, 2)
    assert support["agents"] == summary["agents"]
    history = client.get("/chat/u1/history", params={"agent": "support"}).json()["history"]
    assert [m["content"] for m in history if m["role"] == "user"] == ["hi", "more"]
    # Deleting one agent's thread leaves the others.
    assert client.delete("/chat/u1", params={"agent": "support"}).status_code == 204
    assert [a["agent"] for a in client.get("/chat/u1").json()["agents"]] == ["assistant"]
    assert client.get("/chat/u1/history").json()["total"] == 4
    assert client.get("/chat/u1/history", params={"agent": "support"}).json()["total"] == 0


def test_without_agent_the_default_answers_as_before(twins: Twins) -> None:
    client, _ = twins
    assert client.get("/chat/u2").json()["agent"] == "assistant"
    assert client.get("/chat/u2").json()["agents"] == [
        {"agent": "assistant", "turns": 0, "last_activity": None}
    ]
    content = reply_of(post(client, "u2", "hello"))
    assert content.startswith("Memory: Message count: 1. Got your message: hello at ")
    assert reply_of(post(client, "u2", "now support", agent="support")).startswith("[support] ")
    assert client.get("/chat/u2/history").json()["total"] == 2


def test_a_conversation_from_before_threads_keeps_its_agent(twins: Twins) -> None:
    client, actors = twins
    # Before threads, a first turn naming support bound the session's own thread to it.
    assert reply_of(post(client, "u6", "hi")).startswith("Memory: ")
    meta = actors.actor(ActorTypes.CHAT, "u6")._state_manager._mock_state["meta"]
    meta["agent"] = "support"
    legacy = actors.actor(ActorTypes.CHAT, "u6")
    legacy._conversation.forget()
    # Left out or named: that agent, in the session's own thread.
    assert reply_of(post(client, "u6", "again")).startswith("[support] ")
    assert reply_of(post(client, "u6", "named", agent="support")).startswith("[support] ")
    assert client.get("/chat/u6/history", params={"agent": "support"}).json()["total"] == 6
    # The default, named, is a conflict there; nothing is saved.
    resp = post(client, "u6", "switch", agent="assistant")
    assert (resp.status_code, resp.json()["code"]) == (409, "agent_conflict")
    assert client.get("/chat/u6").json()["agents"] == [
        {"agent": "support", "turns": 3, "last_activity": ANY}
    ]


def test_an_unknown_agent_is_a_422_and_saves_nothing(twins: Twins) -> None:
    client, _ = twins
    resp = post(client, "u3", "hi", agent="ghost")
    assert resp.status_code == 422
    body = resp.json()
    assert body["code"] == "unknown_agent"
    assert "assistant, billing, coordinator, shipping, support" in body["detail"]
    assert client.get("/chat/u3/history").json()["total"] == 0
    assert reply_of(post(client, "u3", "hi", agent="support")).startswith("[support] ")


def test_get_agents_lists_the_profiles_without_their_prompts(twins: Twins) -> None:
    client, _ = twins
    body = client.get("/agents").json()
    assert body["default"] == "assistant"
    by_name = {a["name"]: a for a in body["agents"]}
    assert sorted(by_name) == ["assistant", "billing", "coordinator", "shipping", "support"]
    assert by_name["coordinator"]["delegates"] == ["billing", "shipping"]
    assert by_name["billing"]["delegates"] == []
    assistant, support = by_name["assistant"], by_name["support"]
    assert assistant["default"] is True
    assert support["default"] is False
    assert assistant["tools"] == [
        {"name": "current_time", "approval": False, "idempotent": True},
        {"name": "search_history", "approval": False, "idempotent": True},
    ]
    assert (assistant["memory_window"], assistant["prompt_history"]) == (3, 10)
    assert (support["memory_window"], support["prompt_history"]) == (0, 2)
    assert (support["temperature"], support["max_tokens"]) == (0.2, 400)
    assert assistant["max_tokens"] == 1024
    assert assistant["responder"] == "offline"
    assert "system_prompt" not in support
    assert "You are" not in str(body)


class Recording:
    def __init__(self) -> None:
        self.requests: list[ReplyRequest] = []

    async def reply(self, request: ReplyRequest, context: ReplyContext) -> str:
        self.requests.append(request)
        return "ok"


async def test_the_profile_bounds_the_memory_and_history_in_the_prompt() -> None:
    deps, actors, _ = make_deps()
    recording = Recording()
    deps.responder = recording
    book = packaged_book().model_copy(deep=True)
    book.agents["support"].memory_window = 1
    deps.profiles = book
    window = [ChatMessage(role="user", content=f"m{i}").model_dump() for i in range(3)]
    memory = actors.actor(ActorTypes.MEMORY, "u4~support")
    memory._state_manager._mock_state["memory"] = {"window": window, "last_seq": 0}
    chat = actors.create(ActorTypes.CHAT, "u4~support", ChatAgentInterface)
    for i in range(4):
        unwrap(await chat.ProcessMessage({"content": f"turn {i}", "agent": "support"}))
    last = recording.requests[-1]
    assert [m.content for m in last.memory] == ["m2"]
    assert len(last.recent) == 2
    assert last.profile is not None
    assert (last.profile.name, last.default_profile) == ("support", False)


def test_the_stream_route_picks_the_agent_too(twins: Twins) -> None:
    client, _ = twins
    body = {"content": "hi", "agent": "support"}
    with client.stream("POST", "/chat/u5/stream", json=body) as resp:
        got = events_of(resp)
    assert got[-1][0] == "done"
    assert got[-1][1]["content"].startswith("[support] ")
    with client.stream("POST", "/chat/u5/stream", json={"content": "x"}) as resp:
        plain = events_of(resp)
    assert plain[-1][1]["content"].startswith("Memory: Message count: 1. ")
    assert [a["agent"] for a in client.get("/chat/u5").json()["agents"]] == [
        "assistant",
        "support",
    ]
