"""Traces: OpenTelemetry over OTLP/HTTP."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TracingSettings(BaseModel):
    """OpenTelemetry traces over OTLP/HTTP (``tracing.py``); off by default."""

    enabled: bool = Field(False, description="trace every turn (W3C trace context, OTLP export)")
    otlp_endpoint: str = Field(
        "http://127.0.0.1:4318",
        description="OTLP/HTTP base URL spans go to (`/v1/traces` is appended); the local "
        "stack points it at its Jaeger",
    )
    sampling_ratio: float = Field(
        1.0,
        ge=0,
        le=1,
        description="share of new traces kept; a call with a `traceparent` follows its caller",
    )
    export_delay_s: float = Field(
        2.0, gt=0, description="longest time a finished span waits before it is exported"
    )
    export_timeout_s: float = Field(10.0, gt=0, description="timeout of one OTLP export")
    ui_url: str | None = Field(
        None,
        description="the trace UI's base URL (Jaeger: http://127.0.0.1:16686); set, the "
        "inspector page links each turn to `<ui_url>/trace/<trace id>`",
    )
