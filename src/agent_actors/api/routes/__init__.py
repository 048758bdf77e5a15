"""The HTTP routes, one module per URL prefix.

The ``/chat/{id}`` prefix is a conversation's, and its sub-resources have a module each:

- ``chat.py``: ``POST /chat/{id}`` (a turn) and ``GET /chat/{id}/history``
- ``turns.py``: ``/chat/{id}/turns/{seq}`` (a long turn) and its approval
- ``stream.py``: ``POST /chat/{id}/stream`` (a turn as Server-Sent Events)
- ``calls.py``: ``GET /chat/{id}/calls`` (the model calls ResponseAgent recorded)
- ``sessions.py``: ``GET``/``DELETE /chat/{id}``, ``/chat/{id}/export`` and ``/sessions``

The other prefixes:

- ``agents.py``: ``/agents`` (the agent profiles)
- ``response.py``: ``/response/{id}/...`` (ResponseAgent's count)
- ``memory.py``: ``/memory/{id}/...`` (Memory's window, rebuild, dead letters and replay)
- ``events.py``: ``/events/...`` (subscription counters, unreadable dead letters; admin)
- ``inspect.py``: ``/inspect/...`` (this process's actor cache, daprd's runtime view)
- ``subscription.py``: ``/subscribe/dead-letter`` (daprd's; ``/subscribe`` itself is served
  before routing, by ``api/middleware/event_deliveries.py``)
- ``prometheus.py``: ``/metrics`` (named for its format: ``metrics.py`` is the series)
- ``ui.py``: ``/ui`` (the inspector page)
"""
