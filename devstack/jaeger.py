"""The trace backend of a stack with tracing on (``AGENT_ACTORS_TRACING__ENABLED``,
``make run TRACING=1``): Jaeger, built from its Go module (tools/jaeger/), in-memory, every
listener on loopback; and what daprd and the app need to send it their spans.

Jaeger (v2: an OpenTelemetry Collector) reads one config file, written into the run folder:
an OTLP/HTTP receiver, in-memory storage, the query API and UI; none of the default
all-in-one's other listeners (Jaeger/Zipkin receivers, sampling, health, metrics) exist.
daprd gets its Configuration's tracing exporter as one more ``--config`` (daprd applies each
over the previous one), and a service name of its own so a trace shows which side did what.
"""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

from devstack import health
from devstack.errors import StackError
from devstack.process import ManagedProcess
from devstack.settings import REPO_ROOT, DevSettings

log = logging.getLogger(__name__)

BUILD_SCRIPT = REPO_ROOT / "tools" / "jaeger" / "build.sh"
# Bounds Jaeger's memory: the oldest traces go first (a W1 benchmark run makes ~30,000).
MAX_TRACES = 20_000

CONFIG = """\
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
extensions:
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: {max_traces}
  jaeger_query:
    storage:
      traces: memstore
    enable_tracing: false
    http:
      endpoint: 127.0.0.1:{query}
    grpc:
      endpoint: 127.0.0.1:{query_grpc}
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{otlp}
processors:
  batch:
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
"""

DAPRD_CONFIG = """\
# Written by the stack when tracing is on: daprd's spans to the stack's Jaeger.
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: agent-actors-config
spec:
  tracing:
    samplingRate: "{rate}"
    otel:
      endpointAddress: "127.0.0.1:{otlp}"
      protocol: http
      isSecure: false
"""


def ensure_jaeger() -> Path:
    """The pinned Jaeger binary; the build script builds it when missing (cold: minutes)."""
    log.info("checking the Jaeger binary (tools/jaeger/build.sh)")
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE, text=True, check=False
    )
    path = Path(result.stdout.strip().splitlines()[-1]) if result.stdout.strip() else None
    if result.returncode != 0 or path is None or not path.exists():
        raise StackError(
            f"building Jaeger failed (exit {result.returncode}): see the jaeger-build lines "
            f"above; the script is {BUILD_SCRIPT.relative_to(REPO_ROOT)}."
        )
    return path


def otlp_endpoint(settings: DevSettings) -> str:
    return f"http://127.0.0.1:{settings.stack.jaeger_otlp_port}"


def query_url(settings: DevSettings) -> str:
    return f"http://127.0.0.1:{settings.stack.jaeger_query_port}"


def traces_url(settings: DevSettings) -> str:
    """The query API's newest traces of the app (this build serves no UI: Jaeger's Go module
    carries only a placeholder page where the UI's assets go)."""
    return f"{query_url(settings)}/api/traces?service={settings.dapr.app_id}&limit=20"


def jaeger_process(settings: DevSettings, binary: Path, log_path: Path) -> ManagedProcess:
    s = settings.stack
    config = s.run_dir / "jaeger.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        CONFIG.format(
            max_traces=MAX_TRACES,
            query=s.jaeger_query_port,
            query_grpc=s.jaeger_query_grpc_port,
            otlp=s.jaeger_otlp_port,
        )
    )
    ready = f"{query_url(settings)}/api/services"
    return ManagedProcess(
        "jaeger",
        [str(binary), "--config", f"file:{config}"],
        log_path,
        lambda: health.http_ok(ready),
    )


def daprd_config(settings: DevSettings) -> Path:
    """The ``--config`` layered last on daprd's: its tracing exporter and sampling."""
    path = settings.stack.run_dir / "daprd-tracing.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        DAPRD_CONFIG.format(
            rate=f"{settings.tracing.sampling_ratio:g}", otlp=settings.stack.jaeger_otlp_port
        )
    )
    return path


def daprd_env(settings: DevSettings) -> dict[str, str]:
    # daprd names its spans' service after the app id by default, the app's own name too.
    return {"OTEL_SERVICE_NAME": f"{settings.dapr.app_id}-daprd"}


def app_env(settings: DevSettings) -> dict[str, str]:
    return {
        "AGENT_ACTORS_TRACING__ENABLED": "true",
        "AGENT_ACTORS_TRACING__OTLP_ENDPOINT": otlp_endpoint(settings),
        "AGENT_ACTORS_TRACING__SAMPLING_RATIO": str(settings.tracing.sampling_ratio),
    }
