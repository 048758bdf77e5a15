"""GET /agents: the agent profiles a conversation may pick (``agents.file``)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from agent_actors.api.deps import AnyKey, Deps
from agent_actors.api.http_errors import responses
from agent_actors.api.routes.sessions import ProfileInUse, profile_in_use
from agent_actors.llm.profiles import AgentProfile
from agent_actors.settings import Settings

router = APIRouter(tags=["agents"], responses=responses(401, 429))


class GrantView(BaseModel):
    name: str = Field(description="a built-in tool, or an MCP server's: <server>.<tool|*>")
    approval: bool = Field(description="a person approves each call before it runs")
    idempotent: bool = Field(
        description="false: a call running when a long turn's run was lost waits for a person "
        "instead of running again"
    )


class AgentView(ProfileInUse):
    """A profile as its conversations get it (unset fields: the settings'); never the system
    prompt or anything of its MCP servers but their names."""

    name: str
    description: str
    default: bool = Field(description="the profile of a conversation whose first turn names none")
    temperature: float | None = Field(None, description="unset: the server's")
    max_tokens: int | None = Field(None, description="per request; unset: none sent")
    tools: list[GrantView]
    delegates: list[str] = Field(
        description="agents this one may hand a task to (a tool each), in the same session"
    )
    delegate_timeout_s: float = Field(description="how long one delegation may take")


class AgentsView(BaseModel):
    default: str
    agents: list[AgentView] = Field(description="by name")


@router.get("/agents", dependencies=[AnyKey])
async def agents(deps: Deps) -> AgentsView:
    """The agent profiles: pick one with `"agent"` in a conversation's first turn."""
    book = deps.profiles
    return AgentsView(
        default=book.default,
        agents=[
            view(p, p.name == book.default, deps.settings) for _, p in sorted(book.agents.items())
        ],
    )


def view(profile: AgentProfile, default: bool, settings: Settings) -> AgentView:
    llm = settings.llm
    return AgentView(
        **profile_in_use(profile, settings).model_dump(),
        name=profile.name,
        description=profile.description,
        default=default,
        temperature=llm.temperature if profile.temperature is None else profile.temperature,
        max_tokens=llm.max_output_tokens if profile.max_tokens is None else profile.max_tokens,
        tools=[
            GrantView(name=g.name, approval=g.approval == "required", idempotent=g.idempotent)
            for g in profile.tools
        ],
        delegates=profile.delegates,
        delegate_timeout_s=profile.delegate_timeout_s,
    )
