"""The app's Prometheus metrics (``GET /metrics``), in prometheus-client's default registry.

Low in the layers so actors, llm and api can all count; each update is a counter increment or
one histogram observation, nothing per turn that allocates or locks for long. No label holds a
user id or any text a client chose: label values are codes from a fixed set (outcomes, error
codes, model names from the settings), so the series stay few whatever the traffic.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Turn latencies span the offline responder (milliseconds) to a slow model (tens of seconds).
TURN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 60)
LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

TURNS = Counter(
    "agent_actors_turns",
    "Chat turns answered by the API, by outcome: ok, replayed (a repeated Idempotency-Key), "
    "cancelled (the client left), or the error code",
    ["outcome"],
)
TURN_SECONDS = Histogram(
    "agent_actors_turn_seconds",
    "Time from the API handing a turn to ChatAgent to its answer (any outcome)",
    buckets=TURN_BUCKETS,
)
MODEL_CALLS = Counter(
    "agent_actors_model_calls",
    "Requests sent to the model, by model and status",
    ["model", "status"],
)
MODEL_TOKENS = Counter(
    "agent_actors_model_tokens",
    "Tokens the model server reported, by model and direction (in: prompt, out: completion)",
    ["model", "direction"],
)
MODEL_ERRORS = Counter(
    "agent_actors_model_errors",
    "Failed model requests by kind: the error code (responder_timeout, responder_unavailable, "
    "responder_error), cancelled (the turn's budget ran out), invalid_answer, tool_step_limit",
    ["kind"],
)
OUTBOX_PENDING = Gauge(
    "agent_actors_outbox_pending",
    "Committed turns whose event is not published yet, over the ChatAgents active in this process",
)
DEAD_LETTERS = Counter(
    "agent_actors_dead_letters",
    "Dead letters: turn (a valid event pub/sub gave up on) or unparsed, recorded; erased (its "
    "conversation was deleted meanwhile), dropped",
    ["kind"],
)
MEMORY_LAG_SECONDS = Histogram(
    "agent_actors_memory_lag_seconds",
    "Time from an event's publish to MemoryAgentActor applying it",
    buckets=LAG_BUCKETS,
)
MEMORY_SEQ_LAG = Gauge(
    "agent_actors_memory_seq_lag",
    "Turns the last event showed Memory behind (0: each event applied as the next turn)",
)
LONG_TURNS_RESUMED = Counter(
    "agent_actors_long_turns_resumed",
    "Long turns whose run was lost (a crash, a move) and started again",
)
DELEGATIONS = Counter(
    "agent_actors_delegations",
    "Tasks handed to a delegate, by outcome (ok, failed, timeout), and resent while waiting",
    ["outcome"],
)
TASKS = Counter(
    "agent_actors_tasks",
    "Delegated tasks this replica's task route answered: ok, failed (the delegate's turn "
    "failed), retry (its thread unreachable), dead_letter, expired (delivered long after its "
    "caller gave up: not run)",
    ["outcome"],
)
ACTIVE_STREAMS = Gauge("agent_actors_active_streams", "Open POST /chat/{id}/stream responses")
STREAM_RELAY_DROPPED = Counter(
    "agent_actors_stream_relay_dropped",
    "Stream events not relayed to another replica: the relay's outbox was full (Redis slow "
    "or down; streams.relay_outbox_max)",
)


class OutboxTally:
    """Pending events per active ChatAgent, summed on scrape: each actor sets its own count,
    so a count is never lost or counted twice, and a deactivated actor leaves it."""

    def __init__(self) -> None:
        self._pending: dict[str, int] = {}

    def set(self, user_id: str, pending: int) -> None:
        if pending:
            self._pending[user_id] = pending
        else:
            self._pending.pop(user_id, None)

    def total(self) -> int:
        return sum(self._pending.values())


OUTBOX = OutboxTally()
OUTBOX_PENDING.set_function(OUTBOX.total)
