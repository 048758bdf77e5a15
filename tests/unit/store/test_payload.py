"""Actor payloads split by encoded bytes (twins that refuse what daprd would refuse)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from agent_actors.actors.interfaces import ExportQuery, HistoryQuery, ReplyJob, TurnRequest
from agent_actors.actors.proxies import ChatAgentClient
from agent_actors.actors.replies import ReplyWork
from agent_actors.actors.reply_job import PROMPT_SHARE
from agent_actors.llm import audit
from agent_actors.llm.responder import ReplyContext, ReplyRequest
from agent_actors.models import ActorTypes, CallRecord, ChatMessage, RecordedMessage
from agent_actors.settings import MIN_BODY_BYTES, DaprSettings, LimitSettings, Settings
from agent_actors.sidecar.serializer import SERIALIZER
from agent_actors.store import payload
from agent_actors.store.call_log import CallLog
from tests.unit.actors.test_long_turns import calls, settled, start, view
from tests.unit.store.test_call_log import DictState, record
from tests.unit.twins import LocalActors, make_deps

USER = "u1"
EMOJI = "\U0001f600"
# Each message 1,000 emoji: 12,000 bytes in an actor payload, 4,000 as UTF-8.
CHARS = 1000


def small_body(**limits: object) -> Settings:
    """daprd's smallest accepted max body size, with limits whose entries still fit a page
    (and a commit: fewer idempotency keys kept)."""
    limits = {
        "max_content_chars": CHARS,
        "max_reply_chars": 2 * CHARS,
        "idempotency_keys": 20,
        **limits,
    }
    return Settings(
        dapr=DaprSettings(max_body_bytes=MIN_BODY_BYTES),
        limits=LimitSettings(history_page_size=4, **limits),  # type: ignore[arg-type]
    )


def message(n: int, char: str = EMOJI) -> ChatMessage:
    return ChatMessage(role="user", content=f"{n}:" + char * (CHARS - 8))


def test_an_emoji_takes_12_bytes_and_a_letter_1() -> None:
    assert payload.encoded_size(message(0)) - payload.encoded_size(message(0, "a")) == 11 * 992


def test_newest_that_fit_stop_at_the_budget_and_keep_at_least_one() -> None:
    items = [message(n) for n in range(10)]
    size = payload.encoded_size(items[0]) + 1
    assert payload.newest_that_fit(items, 3 * size) == items[-3:]
    assert payload.newest_that_fit(items, 3 * size - 1) == items[-2:]
    assert payload.newest_that_fit(items, 10) == items[-1:]
    assert payload.newest_that_fit([], 10) == []
    # the same number of ASCII messages fits where the emoji did not
    ascii_items = [message(n, "a") for n in range(10)]
    assert payload.newest_that_fit(ascii_items, 3 * size) == ascii_items


def test_limits_whose_page_could_pass_the_max_body_size_are_refused() -> None:
    Settings()  # the defaults fit: 20 entries of 16,000 characters under 4 MiB
    with pytest.raises(ValidationError, match="history_page_size"):
        Settings(dapr=DaprSettings(max_body_bytes=MIN_BODY_BYTES))
    with pytest.raises(ValidationError, match="memory_window"):
        small_body(memory_window=50)


def test_limits_whose_commit_could_pass_the_max_body_size_are_refused() -> None:
    """Every page fits, but a turn whose two entries straddle two pages writes page_size + 1
    entries, with meta and the idempotency log, in one transaction (found in review: 21
    entries of 16,000 emoji each passed the page check and failed every such turn)."""
    longest = {"max_content_chars": 16_000, "max_reply_chars": 16_000}
    LimitSettings(**longest)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="a turn's commit"):
        Settings(limits=LimitSettings(history_page_size=21, **longest))  # type: ignore[arg-type]
    # The same page size with replies twice as long as messages (the defaults' shape) fits:
    # entries take turns, so the page plus one holds 11 of the longer kind.
    Settings(limits=LimitSettings(history_page_size=21))
    with pytest.raises(ValidationError, match="a turn's commit"):
        Settings(limits=LimitSettings(idempotency_keys=4000))


async def turns(actors: LocalActors, n: int) -> None:
    client = ChatAgentClient(actors, USER)  # type: ignore[arg-type]
    for i in range(n):
        await client.process_message(TurnRequest(content=message(i).content))


async def test_a_history_answer_carries_the_newest_entries_that_fit() -> None:
    _, actors, _ = make_deps(small_body())
    await turns(actors, 20)  # 40 entries, ~700 KB in a payload: over the 256 KiB limit
    client = ChatAgentClient(actors, USER)  # type: ignore[arg-type]
    every = await stored(actors, 0, 40)
    view = await client.history(HistoryQuery(limit=40))
    assert 0 < len(view.history) < 40
    assert view.history == every[-len(view.history) :]
    assert view.next_before == 40 - len(view.history)
    assert len(SERIALIZER.serialize(view.model_dump())) <= MIN_BODY_BYTES
    older = await client.history(HistoryQuery(limit=40, before=view.next_before))
    assert older.history == every[view.next_before - len(older.history) : view.next_before]


async def stored(actors: LocalActors, start: int, end: int) -> list[ChatMessage]:
    chat = actors.actor(ActorTypes.CHAT, USER)
    return list(await chat._history.range(await chat._conversation.meta(), start, end))


async def test_an_export_page_carries_the_first_entries_that_fit() -> None:
    _, actors, _ = make_deps(small_body())
    await turns(actors, 20)
    client = ChatAgentClient(actors, USER)  # type: ignore[arg-type]
    page = await client.export_entries(ExportQuery(start=0, limit=50))
    assert 0 < len(page.entries) < 40
    assert [e.index for e in page.entries] == list(range(len(page.entries)))
    rest = await client.export_entries(ExportQuery(start=len(page.entries), limit=50))
    assert rest.entries[0].index == len(page.entries)


async def test_a_turn_carries_the_newest_of_its_prompt_history_and_points_at_the_rest() -> None:
    settings = small_body(prompt_history=30)
    deps, actors, _ = make_deps(settings)
    await turns(actors, 20)
    chat = actors.actor(ActorTypes.CHAT, USER)
    meta = await chat._conversation.meta()
    job = await chat._jobs.next(
        meta, TurnRequest(content="next"), ChatMessage(role="user", content="n"), None
    )
    share = payload.budget(settings.dapr) // PROMPT_SHARE
    assert 0 < len(job.recent) < 30
    assert sum(payload.encoded_size(m) + 1 for m in job.recent) <= share
    assert (job.earlier_start, job.earlier_end) == (40 - 30, 40 - len(job.recent))
    # ResponseAgent's side: the whole window, oldest first, the older part read from state
    request = await ReplyWork(deps, USER, actors.try_load_state).request(job, count=20)
    assert list(request.recent) == await stored(actors, 10, 40)


async def test_a_job_from_before_the_split_is_read_as_it_is() -> None:
    deps, actors, _ = make_deps(small_body())
    job = ReplyJob.model_validate(
        {"seq": 1, "message": {"role": "user", "content": "hi"}, "recent": []}
    )
    request = await ReplyWork(deps, USER, actors.try_load_state).request(job, count=0)
    assert request.recent == ()


async def test_a_call_log_answer_carries_the_newest_records_that_fit() -> None:
    log = CallLog(DictState(), kept=100, page_size=5, page_bytes=32768, budget=4000)
    await log.append([record(i) for i in range(1, 101)])
    newest = await log.range(limit=100, before=None)
    seqs = [c["seq"] for c in newest["calls"]]
    assert 0 < len(seqs) < 100
    assert seqs[-1] == 100
    assert newest["next_before"] == 100 - len(seqs)
    assert sum(len(SERIALIZER.serialize(c)) + 1 for c in newest["calls"]) <= 4000


class BigRecords:
    """Records model calls whose texts are long emoji (what a deep conversation's are)."""

    async def reply(self, request: ReplyRequest, context: ReplyContext) -> str:
        text = EMOJI * 2000
        for n in range(5):
            context.calls.record(
                CallRecord(
                    seq=request.seq,
                    at=datetime.now(UTC),
                    model="m",
                    request_id=str(n),
                    content_recorded=True,
                    messages=[RecordedMessage(role="user", content=text, chars=2000)] * 3,
                    answer=text,
                )
            )
        return "ok"


async def test_a_long_turns_model_calls_reach_its_end_under_the_max_body_size() -> None:
    """A long turn's records travel in actor calls (its outcome to EndRun, then to the call
    log): 5 records of ~96 KB each would pass 256 KiB; each is cut to its share of a page."""
    deps, actors, _ = make_deps(small_body())
    deps.responder = BigRecords()
    assert (await start(actors, "go"))["seq"] == 1
    await settled(deps)
    assert (await view(actors, 1))["status"] == "done"
    recorded = await calls(actors)
    assert [c["request_id"] for c in recorded] == ["0", "1", "2", "3", "4"]
    share = audit.record_bytes(deps.settings.llm)
    assert all(len(SERIALIZER.serialize(c)) <= share for c in recorded)
