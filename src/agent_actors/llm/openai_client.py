"""The responder on any OpenAI-compatible server (OpenAI, Ollama, vLLM, llama.cpp).

One turn is a bounded loop: ask the model; run the tools it asks for (at most
``max_tool_steps`` rounds); when its answer cannot be used (unknown tool, arguments that do not
fit, an empty answer) tell it what was wrong and ask again (at most ``max_repairs`` times).
Each request is retried on transient failures (``max_retries``, after a jittered backoff or
the server's ``Retry-After``), and the whole turn runs
under ``turn_timeout_s``, well inside the actor call timeout, so a slow or broken model gives
the caller a clear 502/503/504 instead of a proxy timeout (a long turn gives its own budget in
the context). Every request is recorded in the context's call recorder as it happens, failed
ones included. A tool granted with ``approval: required`` stops the loop before the calls of
its answer run (``approvals.py``); ``resume`` goes on from there once a person decided.

Nothing here blocks the event loop: ``AsyncOpenAI`` over httpx, so while one user's turn waits
on the model every other actor in the process keeps running.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from openai import AsyncOpenAI
from opentelemetry import trace

from agent_actors import metrics
from agent_actors.errors import ResponderError, ResponderTimeout
from agent_actors.llm import approvals, audit, checkpoints, spans
from agent_actors.llm.approvals import PausedReply, Resumption
from agent_actors.llm.completion import Completer, Message, ModelCallFailed, ModelTurn
from agent_actors.llm.delegate_tools import delegate_tool
from agent_actors.llm.mcp_tools import ToolCatalog
from agent_actors.llm.profiles import model_ask
from agent_actors.llm.prompt import build_messages
from agent_actors.llm.responder import ReplyContext, ReplyRequest, StepSaver
from agent_actors.llm.tools import InvalidToolCall, ToolContext, ToolFailed, ToolRegistry
from agent_actors.models import CallRecord, Purpose, ToolCallRecord, cut
from agent_actors.settings import LlmSettings
from agent_actors.streams.hub import StreamHub

log = logging.getLogger(__name__)
PREVIEW_CHARS = 200


@dataclass(frozen=True)
class Pauses:
    """How the retries wait (tests record the pauses instead of sleeping them)."""

    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    random: Callable[[], float] = random.random  # in [0, 1)

    def delay(self, s: LlmSettings, attempt: int, failed: ModelCallFailed) -> float | None:
        """The pause before retry ``attempt``, or None when the server asked for a longer
        wait than ``retry_after_max_s`` (the failure then stands: no retry before it).

        Full jitter, a random part of the doubling backoff: a burst of users that met the
        same 429 does not come back in lockstep. A Retry-After is waited out first."""
        asked = failed.retry_after_s
        if asked is not None and asked > s.retry_after_max_s:
            return None
        return (asked or 0.0) + self.random() * s.retry_backoff_s * 2.0 ** (attempt - 1)


class OpenAIResponder:
    def __init__(
        self,
        settings: LlmSettings,
        client: AsyncOpenAI,
        *,
        tools: ToolCatalog | None = None,
        streams: StreamHub | None = None,
        pauses: Pauses | None = None,
    ) -> None:
        self._s = settings
        self._client = client
        self._tools = tools or ToolCatalog()
        # No hub given: nobody listens, so nothing streams (the turn still commits).
        self._streams = streams if streams is not None else StreamHub()
        self._pauses = pauses or Pauses()

    async def aclose(self) -> None:
        await self._client.close()
        await self._tools.aclose()

    async def reply(self, request: ReplyRequest, context: ReplyContext) -> str:
        return await self._within_budget(self._converse(request, context), context)

    async def resume(self, request: ReplyRequest, context: ReplyContext, at: Resumption) -> str:
        """Go on with a reply paused before a tool call that needed approval (approvals.py)."""
        return await self._within_budget(self._converse(request, context, at), context)

    async def _within_budget(self, work: Coroutine[Any, Any, str], context: ReplyContext) -> str:
        budget = context.turn_timeout_s or self._s.turn_timeout_s
        try:
            async with asyncio.timeout(budget):
                return await work
        except TimeoutError as exc:
            raise ResponderTimeout(
                f"the model did not finish the turn within {budget:g} s"
            ) from exc

    async def _converse(
        self,
        request: ReplyRequest,
        context: ReplyContext,
        resumed: Resumption | None = None,
    ) -> str:
        messages = build_messages(model_ask(request.profile, self._s).system_prompt, request)
        prompt_length = len(messages)
        # The profile's tools (its MCP servers connected on first use); none when tool steps
        # are off, so no server is started for nothing.
        registry = (
            await self._tools.tools_for(request.profile)
            if self._s.max_tool_steps > 0
            else ToolRegistry([])
        )
        if request.delegates and self._s.max_tool_steps > 0:
            registry = registry.with_tools([delegate_tool(a) for a in request.delegates])
        tools = registry.schemas() or None
        ctx = ToolContext(
            request.user_id,
            list(request.recent),
            context.search_history,
            delegate=context.delegate,
            turn_key=request.turn_key,
        )
        steps = repairs = 0
        repair_note: Message | None = None
        if resumed is not None:
            paused = resumed.paused
            messages, steps, repairs = (
                paused.prompt_and_steps(messages),
                paused.steps,
                paused.repairs,
            )
            # A run started again after a crash goes on from its checkpoint: no recorded
            # call runs again (checkpoints.py).
            paused = checkpoints.recover(registry, paused)
            answered = resumed.answered
            messages = [
                *messages,
                *await self._approved_tools(paused, ctx, registry, answered, context.steps),
            ]
        while True:
            purpose: Purpose = "repair" if repair_note else ("tool_step" if steps else "reply")
            asked = [*messages, repair_note] if repair_note else messages
            turn, record = await self._request(request, context, asked, tools, purpose)
            problem = self._problem(turn, record, registry)
            if problem is None and turn.tool_calls and steps >= self._s.max_tool_steps:
                record.status, record.error = "error", "tool step limit reached"
                metrics.MODEL_ERRORS.labels("tool_step_limit").inc()
                raise ResponderError(
                    f"the model still asked for tools after {self._s.max_tool_steps} tool steps"
                )
            if problem is not None:
                record.status, record.error = "invalid", problem[:PREVIEW_CHARS]
                metrics.MODEL_ERRORS.labels("invalid_answer").inc()
                repairs += 1
                if turn.streamed_text:
                    self._streams.reset(request)
                if repairs > self._s.max_repairs:
                    raise ResponderError(
                        f"the model's answer could not be used after {self._s.max_repairs} "
                        f"repair attempts: {problem}"
                    )
                log.info(
                    "user=%s seq=%d: repair %d: %s", request.user_id, request.seq, repairs, problem
                )
                repair_note = self._repair_note(problem, registry)
                continue
            if not turn.tool_calls:
                return turn.content
            if turn.streamed_text:
                self._streams.reset(request)
            steps += 1
            repair_note = None
            paused = PausedReply.of(messages[prompt_length:], turn, steps, repairs)
            messages = [
                *messages,
                *await self._approved_tools(paused, ctx, registry, record, context.steps),
            ]

    async def _approved_tools(
        self,
        paused: PausedReply,
        ctx: ToolContext,
        tools: ToolRegistry,
        record: CallRecord | None,
        saver: StepSaver | None = None,
    ) -> list[Message]:
        """The answer's tool results once every call that needs approval has its decision
        (else ``ApprovalRequired``: the reply pauses there); a denied call is not run."""
        approvals.check(tools, paused)
        results, done = await self._run_tools(paused, ctx, tools, saver)
        if record is not None:
            audit.note_results(record, results, self._s.record_chars, self._s.record_content)
            audit.note_delegations(record, ctx.delegations)
            checkpoints.note_attempts(record, done)
        return results

    def _problem(self, turn: ModelTurn, record: CallRecord, tools: ToolRegistry) -> str | None:
        if not turn.tool_calls:
            return None if turn.content.strip() else "the answer was empty"
        problems: list[str] = []
        for call, seen in zip(turn.tool_calls, record.tool_calls, strict=True):
            try:
                tools.parse(call.name, call.arguments)
            except InvalidToolCall as exc:
                seen.error = str(exc)[:PREVIEW_CHARS]
                problems.append(str(exc))
        return "; ".join(problems) or None

    def _repair_note(self, problem: str, tools: ToolRegistry) -> Message:
        return {
            "role": "user",
            "content": (
                f"Your previous answer could not be used: {problem}. Either answer the user "
                f"directly, or call one of these tools with valid JSON arguments: "
                f"{', '.join(tools.names)}."
            ),
        }

    async def _run_tools(
        self,
        step: PausedReply,
        ctx: ToolContext,
        tools: ToolRegistry,
        saver: StepSaver | None = None,
    ) -> tuple[list[Message], PausedReply]:
        """The answer's tool messages, and ``step`` with each call's progress. With a
        ``saver`` (a long turn) each call's start is saved before it runs, and its result
        with the next call's start or after the last: a call with a recorded result (a run
        resumed after a crash) is answered from it, never run again."""
        turn = step.answer()
        out: list[Message] = [
            {
                "role": "assistant",
                "content": turn.content or None,
                "tool_calls": [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments},
                    }
                    for c in turn.tool_calls
                ],
            }
        ]
        unsaved = False
        for index, call in enumerate(step.calls):
            decision = step.decisions[index] if index < len(step.decisions) else None
            if call.result is not None:
                result = call.result
            elif decision is not None and not decision.approve:
                result = approvals.denied(decision)
            else:
                if saver is not None:
                    step = step.with_call(index, attempts=call.attempts + 1)
                    await saver(step)
                    unsaved = False
                at = replace(ctx, position=f"{step.steps}.{index}")
                result = await self._run_tool(call.id, call.name, call.arguments, at, tools)
                if saver is not None:
                    step, unsaved = step.with_call(index, result=result), True
            out.append({"role": "tool", "tool_call_id": call.id, "content": result})
        if saver is not None and unsaved:
            await saver(step)
        return out, step

    async def _run_tool(
        self, call_id: str, name: str, arguments: str, ctx: ToolContext, tools: ToolRegistry
    ) -> str:
        tool, args = tools.parse(name, arguments)
        with spans.tool_call(name, call_id) as span:
            try:
                return await tools.run(tool, args, replace(ctx, call_id=call_id))
            except ToolFailed as exc:
                # Its message is for the model (an MCP server down, a timeout, an error
                # result): the model works around it, the turn goes on.
                log.warning("user=%s: tool %s failed: %s", ctx.user_id, name, exc)
                span.set_status(trace.StatusCode.ERROR, "ToolFailed")
                return json.dumps({"error": str(exc)}, ensure_ascii=False)
            except Exception as exc:
                # A tool that fails is the model's problem to work around, not a failed turn.
                log.warning("user=%s: tool %s failed: %r", ctx.user_id, name, exc)
                span.set_status(trace.StatusCode.ERROR, type(exc).__name__)
                return f'{{"error": "the tool failed: {type(exc).__name__}"}}'

    async def _request(
        self,
        request: ReplyRequest,
        context: ReplyContext,
        messages: list[Message],
        tools: list[dict[str, Any]] | None,
        purpose: Purpose,
    ) -> tuple[ModelTurn, CallRecord]:
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._recorded(request, context, messages, tools, purpose, attempt)
            except ModelCallFailed as failed:
                if not failed.transient or attempt > self._s.max_retries:
                    raise failed.error from failed
                delay = self._pauses.delay(self._s, attempt, failed)
                if delay is None:
                    raise failed.error from failed
                self._streams.reset(request)
                log.warning(
                    "user=%s seq=%d: model request failed (%s), retry %d in %.1fs",
                    request.user_id,
                    request.seq,
                    failed.error.message,
                    attempt,
                    delay,
                )
                await self._pauses.sleep(delay)

    async def _recorded(
        self,
        request: ReplyRequest,
        context: ReplyContext,
        messages: list[Message],
        tools: list[dict[str, Any]] | None,
        purpose: Purpose,
        attempt: int,
    ) -> tuple[ModelTurn, CallRecord]:
        streaming = self._streams.listening(request)
        ask = model_ask(request.profile, self._s)
        record = self._record(request, messages, ask.model, purpose, attempt, streaming)
        context.calls.record(record)
        completer = Completer(self._client, ask.model, ask.options, self._streams)
        started = time.monotonic()
        try:
            with spans.model_call(
                ask.model, str(self._client.base_url), ask.options, purpose, attempt
            ) as span:
                if streaming:
                    turn = await completer.stream(messages, tools, request, self._s.stream_usage)
                else:
                    turn = await completer.complete(messages, tools)
                spans.answered(span, turn)
        except BaseException as exc:
            record.status = "error"
            record.error = describe(exc)
            metrics.MODEL_CALLS.labels(ask.model, "error").inc()
            metrics.MODEL_ERRORS.labels(error_kind(exc)).inc()
            raise
        finally:
            record.latency_ms = int((time.monotonic() - started) * 1000)
        record.tokens_in, record.tokens_out = turn.tokens_in, turn.tokens_out
        record.response_id = turn.response_id
        count_answer(ask.model, turn)
        content, chars = self._s.record_content, self._s.record_chars
        record.answer = cut(turn.content, chars) if content else None
        record.tool_calls = [
            ToolCallRecord(
                name=c.name[:PREVIEW_CHARS],
                id=c.id,
                arguments=cut(c.arguments, chars) if content else "",
            )
            for c in turn.tool_calls
        ]
        return turn, record

    def _record(
        self,
        request: ReplyRequest,
        messages: list[Message],
        model: str,
        purpose: Purpose,
        attempt: int,
        streaming: bool,
    ) -> CallRecord:
        """The request's record as it starts: what was asked (bounded, ``audit.py``)."""
        content = self._s.record_content
        return CallRecord(
            seq=request.seq,
            at=datetime.now(UTC),
            model=model,
            agent=request.profile.name if request.profile is not None else None,
            task_id=request.task_id,
            request_id=uuid.uuid4().hex,
            purpose=purpose,
            attempt=attempt,
            stream=streaming,
            content_recorded=content,
            messages=audit.recorded_messages(
                messages, self._s.record_chars, self._s.record_messages, content
            ),
            messages_sent=len(messages),
        )


def count_answer(model: str, turn: ModelTurn) -> None:
    metrics.MODEL_CALLS.labels(model, "ok").inc()
    if turn.tokens_in is not None:
        metrics.MODEL_TOKENS.labels(model, "in").inc(turn.tokens_in)
    if turn.tokens_out is not None:
        metrics.MODEL_TOKENS.labels(model, "out").inc(turn.tokens_out)


def error_kind(exc: BaseException) -> str:
    """A failed request's kind for the metrics: a fixed set of codes, never its text."""
    if isinstance(exc, ModelCallFailed):
        return exc.error.code
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    return "unexpected"


def describe(exc: BaseException) -> str:
    if isinstance(exc, ModelCallFailed):
        return f"{exc.error.code}: {exc.error.message}"[:PREVIEW_CHARS]
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled: the turn's time budget ran out"
    return f"{type(exc).__name__}: {exc}"[:PREVIEW_CHARS]
