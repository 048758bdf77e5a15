"""Delegates as tools: one per agent a profile may hand a task to (``delegates``).

The model sees a delegate as a tool of the agent's name and description taking the task's
text. Running it hands the text to the delegate's thread of the same session
(``ReplyContext.delegate``, which the actors wire to the task topic) and returns the answer; a
delegate that fails or misses its deadline is a tool error the model reads and works around,
and the call's record names the task either way (``ToolCallRecord.delegation``).
"""

from __future__ import annotations

import json
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

from agent_actors.llm.profiles import AgentProfile
from agent_actors.llm.responder import Delegate, Delegated
from agent_actors.llm.tools import Tool, ToolContext, ToolFailed

# The most of a task's text a model may write: a delegate's turn takes it as its message.
TASK_CHARS = 8000


class TaskArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task: str = Field(
        min_length=1,
        max_length=TASK_CHARS,
        description="what to ask: the whole question, with everything the agent needs to know",
    )


class DelegationFailed(ToolFailed):
    """The delegate did not answer (failed, or past its deadline): ``delegated`` says which."""

    def __init__(self, delegated: Delegated) -> None:
        link = delegated.link
        why = "did not answer in time" if link.status == "timeout" else "failed"
        super().__init__(f"agent {link.delegate!r} {why} (task {link.task_id}): {link.error}")
        self.delegated = delegated


def description(agent: AgentProfile) -> str:
    about = agent.description or f"the {agent.name} agent"
    return f"Hand a task to another agent and get its answer: {about}"


def delegate_tool(agent: AgentProfile) -> Tool:
    return _tool(agent.name, description(agent))


# Kept per agent: a new Tool would build its pydantic schema again on every turn.
@lru_cache(maxsize=256)
def _tool(name: str, about: str) -> Tool:
    async def run(args: TaskArgs, ctx: ToolContext) -> str:
        if ctx.delegate is None:
            raise ToolFailed("delegation is not available in this turn")
        delegated = await ctx.delegate(name, args.task, ctx.position)
        ctx.note_delegation(delegated)
        if delegated.answer is None:
            raise DelegationFailed(delegated)
        return json.dumps({"agent": name, "answer": delegated.answer}, ensure_ascii=False)

    return Tool(name, about, TaskArgs, run)


def named_in(text: str, agents: tuple[AgentProfile, ...]) -> list[AgentProfile]:
    """The agents ``text`` names as a word (case-insensitive), in the order offered: how the
    offline responder decides whom to ask, so a test drives delegation without a model."""
    words = {w.strip(".,;:!?()[]'\"").lower() for w in text.split()}
    return [a for a in agents if a.name.lower() in words]


async def ask_all(delegate: Delegate, agents: list[AgentProfile], text: str) -> list[Delegated]:
    """Each agent asked in turn (a model's tool calls of one answer run in order too)."""
    return [await delegate(agent.name, text) for agent in agents]
