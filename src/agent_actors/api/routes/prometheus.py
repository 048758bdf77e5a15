"""GET /metrics: the app's metrics (``metrics.py``) in Prometheus's text format.

Open like /healthz, also with API keys: the series carry codes and counts, never a user id
or a message. daprd serves its own metrics on its metrics port (docs/observability.md, "Metrics").
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text exposition format",
            "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
        }
    },
)
def metrics() -> Response:
    """Turns by outcome, turn latency, model calls, tokens and errors, outbox, dead letters,
    memory lag, open streams, and the process's own (CPU, memory, open files)."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
