"""The domain error tree, mapped to HTTP in one place (``api/http_errors.py``).

::

    AgentActorsError                 code                 HTTP
    ├── InvalidInput                 invalid_input        422
    │   ├── InvalidUserId            invalid_user_id      422
    │   ├── ContentTooLarge          content_too_large    413
    │   ├── BodyTooLarge             body_too_large       413
    │   ├── IdempotencyConflict      idempotency_conflict 422
    │   └── UnknownAgent             unknown_agent        422
    ├── Unauthorized                 unauthorized         401
    ├── Forbidden                    forbidden            403
    │   └── ApproverRequired         approver_required    403
    ├── RateLimited                  rate_limited         429
    ├── TurnLimitReached             turn_limit           409
    ├── AgentConflict                agent_conflict       409
    ├── TurnInProgress               turn_in_progress     409
    ├── NotAwaitingApproval          not_awaiting_approval 409
    ├── ApprovalStale                approval_stale       409
    ├── TurnNotFound                 turn_not_found       404
    ├── TaskNotFound                 task_not_found       404
    ├── TurnInterrupted              turn_interrupted     503
    ├── StreamTimeout                stream_timeout       504 (an attached stream's bound)
    ├── ActorUnavailable             actor_unavailable    503
    ├── ConversationMoved            conversation_moved   503
    ├── StoreUnavailable             store_unavailable    503
    ├── PublishFailed                publish_failed       503 (never answered: stays in the outbox)
    ├── HistoryBehind                history_behind       409
    ├── ResponderError               responder_error      502
    │   ├── ReplyTooLarge            reply_too_large      502
    │   ├── ResponderTimeout         responder_timeout    504
    │   └── ResponderUnavailable     responder_unavailable 503
    └── Misconfigured                misconfigured        (app start: one sentence, exit 1)

A failed call to daprd becomes one of these in one place (``sidecar/failures.py``). Actors
raise these; they cross the actor boundary as ``{"code", "message"}`` (see
``sidecar/boundary.py``) and are raised again on the caller's side, so the API answers with
the same code whichever actor failed.
"""

from __future__ import annotations


class AgentActorsError(Exception):
    code = "internal_error"
    status = 500
    # Seconds a client should wait before retrying (the Retry-After header); None: retrying
    # the same request would not help.
    retry_after_s: int | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class InvalidInput(AgentActorsError):
    code = "invalid_input"
    status = 422


class InvalidUserId(InvalidInput):
    code = "invalid_user_id"


class ContentTooLarge(InvalidInput):
    code = "content_too_large"
    status = 413


class BodyTooLarge(InvalidInput):
    """A request body over ``limits.max_body_bytes``, refused before it is read."""

    code = "body_too_large"
    status = 413


class IdempotencyConflict(InvalidInput):
    """An Idempotency-Key already used for a turn with another message."""

    code = "idempotency_conflict"


class UnknownAgent(InvalidInput):
    """A turn names an agent profile the agents file does not have."""

    code = "unknown_agent"


class Unauthorized(AgentActorsError):
    code = "unauthorized"
    status = 401


class Forbidden(AgentActorsError):
    code = "forbidden"
    status = 403


class ApproverRequired(Forbidden):
    """An approval sent with a key that may not approve: once any API key is an approver
    (``AGENT_ACTORS_AUTH__API_KEYS``), only approver keys decide on tool calls."""

    code = "approver_required"


class RateLimited(AgentActorsError):
    """An API key sent more requests than ``AGENT_ACTORS_AUTH__RATE_PER_S`` allows."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class TurnLimitReached(AgentActorsError):
    """The conversation has ``AGENT_ACTORS_LIMITS__MAX_TURNS`` turns: delete it to go on."""

    code = "turn_limit"
    status = 409


class AgentConflict(AgentActorsError):
    """A turn names another agent profile than its conversation's: only a conversation from
    before threads, bound to a named agent in the session's own thread, refuses the default
    (docs/llm.md); any other agent named talks in its own thread."""

    code = "agent_conflict"
    status = 409


class TurnInProgress(AgentActorsError):
    """A long turn of this conversation is still pending or awaiting approval: the user's
    turns stay in order, so a new one is refused until it is done or failed."""

    code = "turn_in_progress"
    status = 409


class NotAwaitingApproval(AgentActorsError):
    """An approval for a turn that is not waiting for one (already decided, done, failed)."""

    code = "not_awaiting_approval"
    status = 409


class ApprovalStale(AgentActorsError):
    """An approval that names another call than the one the turn waits for, or that differs
    from the decision already taken on the call it names: it changes nothing (an approval
    never decides on a call its sender did not see)."""

    code = "approval_stale"
    status = 409


class TurnNotFound(AgentActorsError):
    code = "turn_not_found"
    status = 404


class TaskNotFound(AgentActorsError):
    """No dead-lettered task of this session has that id (replay)."""

    code = "task_not_found"
    status = 404


class TurnInterrupted(AgentActorsError):
    """The app running a long turn stopped (a crash, a move of the actor) before the turn
    ended: nothing of it was saved; send the message again."""

    code = "turn_interrupted"
    status = 503


class StreamTimeout(AgentActorsError):
    """A stream attached to a turn (or resumed) waited ``streams.watch_max_s`` and the turn
    had not ended: the stream ends; the turn goes on (attach again, or read it)."""

    code = "stream_timeout"
    status = 504


class ActorUnavailable(AgentActorsError):
    """A sidecar failure: its detail is for the logs, not for the caller."""

    code = "actor_unavailable"
    status = 503
    retry_after_s = 1

    def __init__(
        self, message: str = "the actor runtime could not complete the call", cause: str = ""
    ) -> None:
        super().__init__(message)
        # What daprd said, for the logs (it can name internals the caller must not see).
        self.cause = cause


class ConversationMoved(AgentActorsError):
    """Another replica committed this conversation's turn while this one was answering it
    (the actor moved, or two hosts ran it during a rebalance): nothing was saved; retry."""

    code = "conversation_moved"
    status = 503
    retry_after_s = 1


class StoreUnavailable(AgentActorsError):
    """daprd's state API could not complete a read or write (dead letters)."""

    code = "store_unavailable"
    status = 503
    retry_after_s = 1


class PublishFailed(AgentActorsError):
    """daprd's publish API did not take an event (``events/publisher.py``): it stays in the
    outbox and goes again on the outbox's next round, so no client ever sees this error."""

    code = "publish_failed"
    status = 503
    retry_after_s = 1


class HistoryBehind(AgentActorsError):
    """An event names a turn ChatAgent has not committed: Memory cannot apply it without
    skipping turns, so it is refused (pub/sub retries it, then dead-letters it)."""

    code = "history_behind"
    status = 409


class ResponderError(AgentActorsError):
    code = "responder_error"
    status = 502


class ReplyTooLarge(ResponderError):
    """The model wrote more than a stored reply may hold: nothing of the turn is saved."""

    code = "reply_too_large"


class ResponderTimeout(ResponderError):
    code = "responder_timeout"
    status = 504
    retry_after_s = 2


class ResponderUnavailable(ResponderError):
    code = "responder_unavailable"
    status = 503
    retry_after_s = 2


class Misconfigured(AgentActorsError):
    """The settings would run the app unsafely: it refuses to start (one sentence)."""

    code = "misconfigured"


def error_for_code(code: str, message: str) -> AgentActorsError:
    """Rebuild a domain error from its wire form (the subclass with that code)."""
    pending: list[type[AgentActorsError]] = [AgentActorsError]
    while pending:
        cls = pending.pop()
        if cls.code == code:
            return cls(message)
        pending.extend(cls.__subclasses__())
    return AgentActorsError(message)
