"""What a new turn starts from: its agent, the bound on turns, its thread registered (the
first turn of an agent's thread), and the job ResponseAgent writes the reply from (the
message, the recent history, the agent)."""

from __future__ import annotations

from agent_actors import logs
from agent_actors.actors.interfaces import ReplyJob, TurnRequest
from agent_actors.actors.services import ActorDeps
from agent_actors.actors.threads import ThreadEntry
from agent_actors.errors import AgentConflict, TurnLimitReached, UnknownAgent
from agent_actors.llm.profiles import ProfileBook
from agent_actors.models import ChatMessage
from agent_actors.store import payload
from agent_actors.store.history import HistoryStore
from agent_actors.store.state import ChatMeta

# The share of an actor payload a turn's job gives the prompt history it carries: the job
# also holds the message, and a long turn keeps it in its record with the model calls.
PROMPT_SHARE = 4


class ReplyJobs:
    def __init__(self, deps: ActorDeps, history: HistoryStore, user: str, budget: int) -> None:
        self._deps = deps
        self._history = history
        self._user = user
        self._thread = ThreadEntry(deps.threads, user)
        # Bytes of entries one actor payload may carry (daprd's max body size).
        self._budget = budget

    async def next(
        self, meta: ChatMeta, request: TurnRequest, message: ChatMessage, stream_id: str | None
    ) -> ReplyJob:
        """A new turn, once it may start (its agent, the turn bound): the message, the recent
        history (as many entries as the agent's profile asks for), the agent."""
        agent = agent_for(self._deps.profiles, meta, request.agent, self._thread.agent)
        limits = self._deps.settings.limits
        if limits.max_turns is not None and meta.turns >= limits.max_turns:
            raise TurnLimitReached(
                f"this conversation has {meta.turns} turns, the limit; "
                "DELETE /chat/{id} starts a new one"
            )
        await self._thread.admitting(meta.turns)
        seq = meta.turns + 1
        logs.bind(user=self._user, seq=seq)
        profile = self._deps.profiles.resolve(agent)
        window = limits.prompt_history if profile.prompt_history is None else profile.prompt_history
        recent = await self._history.tail(meta, window)
        # Only the newest that fit a share of the payload travel in the job (and in a long
        # turn's record, beside the rest of the turn); ResponseAgent reads the older ones
        # from the committed history, where they are the same entries.
        inline = payload.newest_that_fit(recent, self._budget // PROMPT_SHARE) if recent else []
        return ReplyJob(
            seq=seq,
            message=message,
            recent=inline,
            earlier_start=meta.entries - len(recent),
            earlier_end=meta.entries - len(inline),
            stream_id=stream_id,
            agent=agent,
            task=request.task,
            request_id=request.request_id,
        )


def agent_for(book: ProfileBook, meta: ChatMeta, asked: str | None, fixed: str | None) -> str:
    """The turn's agent profile. In another agent's thread (``fixed``): that agent, whatever
    the turns. In the session's own thread: the default's, or, for a conversation that began
    before sessions had threads with another agent named, that agent (kept; the routes send a
    request naming it here); another name is a conflict (the routes send it to its thread)."""
    if asked is not None and book.profile(asked) is None:
        raise UnknownAgent(
            f"there is no agent {asked!r}; the agents are {', '.join(sorted(book.agents))} "
            "(GET /agents)"
        )
    # A conversation from before profiles has none stored: it was the default's.
    kept = fixed or meta.agent or book.default
    if asked is not None and asked != kept:
        raise AgentConflict(
            f"this conversation talks to agent {kept!r}; {asked!r} has a thread of its own "
            "in the session (name it in the request: POST /chat/{id} with agent)"
        )
    return kept
