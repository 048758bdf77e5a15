"""Distributed tracing with OpenTelemetry: W3C trace context across every hop of a turn.

Off by default (``settings.tracing``). On, the app exports its spans over OTLP/HTTP and
carries ``traceparent`` both ways: FastAPI's instrumentation for what comes in (the public API,
daprd's actor calls, pub/sub deliveries), the sidecar client itself for what goes out to daprd
(actor calls, state, reminders, publish: ``sidecar/http1.py``). daprd continues the trace and
puts it into each CloudEvent it publishes, so the memory update that arrives through pub/sub
lands in the turn's trace. Off, nothing is instrumented and the spans the code opens are
non-recording no-ops.

daprd's calls into actors are named as daprd names them (``ChatAgent.ProcessMessage``), the
calls to daprd by their route with ids as placeholders. Spans carry names, ids, counts and
statuses, never a message's text.
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from agent_actors.settings import TracingSettings

log = logging.getLogger(__name__)

# daprd polls the health route every few seconds and Prometheus scrapes: neither is a turn.
EXCLUDED_URLS = "/healthz$,/metrics$"


def configure(settings: TracingSettings, service_name: str) -> TracerProvider | None:
    """Install the process's tracer provider (once per process: OpenTelemetry's global can be
    set only once); ``None`` when tracing is off."""
    if not settings.enabled:
        return None
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: service_name}),
        sampler=ParentBased(TraceIdRatioBased(settings.sampling_ratio)),
    )
    endpoint = settings.otlp_endpoint.rstrip("/") + "/v1/traces"
    provider.add_span_processor(
        BatchSpanProcessor(
            OTLPSpanExporter(endpoint=endpoint, timeout=settings.export_timeout_s),
            schedule_delay_millis=int(settings.export_delay_s * 1000),
        )
    )
    trace.set_tracer_provider(provider)
    log.info(
        "tracing on: spans to %s (sampling %.3g, service %s)",
        endpoint,
        settings.sampling_ratio,
        service_name,
    )
    return provider


def instrument_app(app: Any, provider: TracerProvider) -> None:
    """Server spans for every route, continuing the caller's ``traceparent``; the per-message
    ASGI receive/send spans are left out (two more spans per request, nothing to read)."""
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        excluded_urls=EXCLUDED_URLS,
        exclude_spans=["receive", "send"],
        server_request_hook=_name_actor_call,
    )


def _name_actor_call(span: trace.Span, scope: dict[str, Any]) -> None:
    """daprd's call into an actor is a remote procedure call: its span is named as daprd names
    the call (``ChatAgent.ProcessMessage``), not by the SDK's route template."""
    if not span.is_recording():
        return
    if scope.get("path") == "/subscribe":
        # Served before FastAPI's routing (api/middleware/event_deliveries.py): no route to
        # name it after.
        span.update_name(f"{scope.get('method')} /subscribe")
        return
    parts = str(scope.get("path", "")).split("/")  # ["", "actors", type, id, "method", name…]
    if len(parts) < 4 or parts[1] != "actors":
        return
    actor_type, actor_id = parts[2], parts[3]
    method = "/".join(parts[5:]) if len(parts) > 5 and parts[4] == "method" else "Deactivate"
    span.update_name(f"{actor_type}.{method}")
    span.set_attributes(
        {
            "rpc.system": "dapr",
            "rpc.service": actor_type,
            "rpc.method": method,
            "dapr.actor.type": actor_type,
            "dapr.actor.id": actor_id,
        }
    )


def client_route(path: str) -> str:
    """A daprd API path with its ids replaced by placeholders (a span name is an operation,
    not one per user): ``/v1.0/actors/ChatAgent/{id}/method/ProcessMessage``."""
    parts = path.split("/")  # ["", "v1.0", "actors", type, id, ...]
    if len(parts) >= 5 and parts[2] == "actors":
        parts[4] = "{id}"
        if len(parts) >= 7 and parts[5] == "state":
            parts[6:] = ["{key}"]
    elif len(parts) >= 5 and parts[2] == "state":
        parts[4:] = ["{key}"]
    return "/".join(parts)


def current_trace_id() -> str | None:
    """The current span's trace id as 32 hex digits (what Jaeger shows), or ``None`` outside
    a recorded trace: for log lines that point into the trace."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


FLUSH_TIMEOUT_MS = 3000


def shutdown(provider: TracerProvider | None) -> None:
    """Export what is still queued (the last turn's spans) before the process exits; bounded,
    so an unreachable backend never holds up a stop."""
    if provider is not None:
        provider.force_flush(FLUSH_TIMEOUT_MS)
