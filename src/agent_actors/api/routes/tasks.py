"""Delegation's routes: the task and reply topics' deliveries, and a session's stuck tasks.

``/subscribe/tasks`` runs a delegated task as a turn of the delegate's thread
(``actors/delegation.py``), ``/subscribe/task-replies`` hands a reply to the turn in this
process waiting for it, ``/subscribe/tasks/dead-letter`` keeps the tasks Dapr gave up on
(``store/task_letters.py``). ``GET /chat/{id}/tasks`` lists a session's, and
``POST /chat/{id}/tasks/{task_id}/replay`` runs one again, once: the delegate's thread answers
a task id once, so a replay of a task that was answered after all gives that answer.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import ValidationError

from agent_actors import metrics
from agent_actors.actors.delegation import TRANSIENT, run_task
from agent_actors.api.deps import Deps, UserId
from agent_actors.api.http_errors import USER_ROUTE, responses
from agent_actors.errors import InvalidInput, StoreUnavailable, TaskNotFound
from agent_actors.events.conversation_updated import SubscriptionStatus, why_unreadable
from agent_actors.events.task_messages import TaskReply, parse_reply, parse_task
from agent_actors.store.task_letters import SessionTaskLetters, TaskLetter

log = logging.getLogger(__name__)
deliveries = APIRouter(include_in_schema=False)
router = APIRouter(tags=["sessions"], responses=responses(*USER_ROUTE))
# Why a task is on the dead-letter topic when it could be read: its thread stayed unreachable.
RETRIES_EXHAUSTED = "not answered after the resiliency retries"
TASK_ID = r"^[A-Za-z0-9_-]{1,64}$"
# A task delivered this long after its caller stopped waiting is not run (clocks of replicas
# may differ by a little: a task is never dropped while its caller could still take the answer).
EXPIRED_AFTER_S = 10.0


async def _body(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None


@deliveries.post("/subscribe/tasks")
async def on_task(request: Request, deps: Deps) -> dict[str, str]:
    try:
        task = parse_task(await _body(request), deps.settings.limits.max_id_chars)
    except (ValidationError, InvalidInput) as exc:
        log.warning("unreadable task dropped: %s", why_unreadable(exc))
        return {"status": SubscriptionStatus.DROP}
    if time.time() > task.deadline + EXPIRED_AFTER_S:
        # Its caller gave up long ago (a redelivery, a resend that lingered): running it
        # would spend a model call nobody waits for, and could bring back a session deleted
        # since. A replay (below) still runs it.
        metrics.TASKS.labels("expired").inc()
        log.info("task %s for %s expired before it ran: not run", task.task_id, task.delegate)
        return {"status": SubscriptionStatus.SUCCESS}
    try:
        reply = await run_task(deps, task)
    except TRANSIENT as exc:
        metrics.TASKS.labels("retry").inc()
        log.warning("task %s for %s: RETRY: %s", task.task_id, task.delegate, exc)
        return {"status": SubscriptionStatus.RETRY}
    metrics.TASKS.labels(reply.status).inc()
    return {"status": SubscriptionStatus.SUCCESS}


@deliveries.post("/subscribe/task-replies")
async def on_task_reply(request: Request, deps: Deps) -> dict[str, str]:
    try:
        reply = parse_reply(await _body(request))
    except (ValidationError, InvalidInput):
        return {"status": SubscriptionStatus.DROP}
    # Every replica hears every reply: the one whose turn waits takes it, the rest ignore it.
    deps.waits.settle(reply)
    return {"status": SubscriptionStatus.SUCCESS}


@deliveries.post("/subscribe/tasks/dead-letter")
async def on_task_dead_letter(request: Request, deps: Deps) -> dict[str, str]:
    try:
        task = parse_task(await _body(request), deps.settings.limits.max_id_chars)
    except (ValidationError, InvalidInput) as exc:
        log.warning("unreadable dead-lettered task dropped: %s", why_unreadable(exc))
        return {"status": SubscriptionStatus.SUCCESS}
    if deps.task_letters is None:
        return {"status": SubscriptionStatus.SUCCESS}
    letter = TaskLetter(task=task, at=datetime.now(UTC), reason=RETRIES_EXHAUSTED)
    try:
        await deps.task_letters.record(letter)
        if deps.tasks is not None:
            # The caller may still be waiting: it fails now instead of at its deadline.
            await deps.tasks.answer(
                TaskReply(
                    task_id=task.task_id,
                    status="failed",
                    error=f"the task was dead-lettered: {RETRIES_EXHAUSTED}",
                    code="dead_lettered",
                )
            )
    except TRANSIENT as exc:
        log.warning("could not record dead-lettered task %s, RETRY: %s", task.task_id, exc)
        return {"status": SubscriptionStatus.RETRY}
    metrics.TASKS.labels("dead_letter").inc()
    log.warning("task %s for %s dead-lettered", task.task_id, task.delegate)
    return {"status": SubscriptionStatus.SUCCESS}


@router.get("/chat/{id}/tasks")
async def dead_lettered_tasks(user_id: UserId, deps: Deps) -> SessionTaskLetters:
    """The session's delegated tasks Dapr gave up on (their delegate's thread stayed
    unreachable), the newest kept, with their text: replay one by its `task_id`."""
    if deps.task_letters is None:
        return SessionTaskLetters()
    return await deps.task_letters.of(user_id)


@router.post("/chat/{id}/tasks/{task_id}/replay", responses=responses(404))
async def replay_task(
    user_id: UserId, deps: Deps, task_id: Annotated[str, Path(pattern=TASK_ID)]
) -> TaskReply:
    """Run a dead-lettered task again as a turn of its delegate's thread: its answer, or why
    it failed (a task its delegate answered after all gives that answer, never a second
    one)."""
    letters = await deps.task_letters.of(user_id) if deps.task_letters else SessionTaskLetters()
    found = next((x for x in letters.letters if x.task.task_id == task_id), None)
    if found is None:
        raise TaskNotFound(
            f"no dead-lettered task {task_id!r} in this session (GET /chat/{{id}}/tasks)"
        )
    reply = await run_task(deps, found.task)
    if deps.task_letters is not None:
        try:
            await deps.task_letters.mark_replayed(user_id, task_id, datetime.now(UTC))
        except StoreUnavailable as exc:
            log.warning("task %s replayed, not marked: %s", task_id, exc)
    return reply
