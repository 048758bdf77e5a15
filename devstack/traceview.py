"""`make trace`: one trace from the stack's Jaeger, drawn as a waterfall PNG.

The Jaeger built from its Go module serves the query API but no UI (the UI's assets are not in
the module), so this draws what the UI's trace view would: one row per span, indented under
its parent, a bar from its start for its duration, coloured by service (the app or daprd).
Without ``--trace-id``: the newest trace that starts with a chat turn.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from devstack import jaeger
from devstack.settings import DevSettings, get_settings

TURN_OPERATION = "POST /chat/{id}"
COLOURS = ("#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df")


@dataclass
class Row:
    depth: int
    service: str
    name: str
    start_ms: float
    duration_ms: float


def fetch(settings: DevSettings, trace_id: str | None) -> dict[str, Any]:
    base = jaeger.query_url(settings)
    try:
        if trace_id is not None:
            r = httpx.get(f"{base}/api/traces/{trace_id}", timeout=10)
        else:
            params: dict[str, str | int] = {
                "service": settings.dapr.app_id,
                "operation": TURN_OPERATION,
                "limit": 20,
            }
            r = httpx.get(f"{base}/api/traces", params=params, timeout=10)
    except httpx.HTTPError as exc:
        raise SystemExit(
            f"Jaeger does not answer at {base} ({exc}): is a stack with TRACING=1 up?"
        ) from exc
    traces = r.json().get("data") or [] if r.status_code == 200 else []
    if not traces:
        raise SystemExit(f"Jaeger at {base} holds no such trace (yet): make a turn first.")
    return max(traces, key=lambda t: min(s["startTime"] for s in t["spans"]))


def rows(trace: dict[str, Any]) -> list[Row]:
    """Depth-first, children by start time: the order of a trace view."""
    services = {k: p["serviceName"] for k, p in trace["processes"].items()}
    spans = {s["spanID"]: s for s in trace["spans"]}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for span in trace["spans"]:
        parents = [r["spanID"] for r in span["references"] if r["refType"] == "CHILD_OF"]
        parent = parents[0] if parents and parents[0] in spans else None
        children.setdefault(parent, []).append(span)
    t0 = min(s["startTime"] for s in trace["spans"])
    out: list[Row] = []

    def walk(parent: str | None, depth: int) -> None:
        for span in sorted(children.get(parent, []), key=lambda s: s["startTime"]):
            out.append(
                Row(
                    depth,
                    services[span["processID"]],
                    span["operationName"],
                    (span["startTime"] - t0) / 1000,
                    span["duration"] / 1000,
                )
            )
            walk(span["spanID"], depth + 1)

    walk(None, 0)
    return out


def draw(trace_id: str, table: list[Row], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    services = sorted({r.service for r in table})
    colour = {s: COLOURS[i % len(COLOURS)] for i, s in enumerate(services)}
    total = max(r.start_ms + r.duration_ms for r in table)
    fig, (names, ax) = plt.subplots(
        1,
        2,
        sharey=True,
        figsize=(15, 0.26 * len(table) + 1.4),
        gridspec_kw={"width_ratios": [2, 3], "wspace": 0.01},
    )
    for y, r in enumerate(table):
        names.text(
            0.01 + 0.025 * r.depth,
            y,
            r.name,
            va="center",
            fontsize=7.5,
            family="monospace",
            color=colour[r.service],
            transform=names.get_yaxis_transform(),
        )
        ax.barh(y, max(r.duration_ms, total / 800), left=r.start_ms, color=colour[r.service])
        ax.text(
            r.start_ms + r.duration_ms + total / 150,
            y,
            f"{r.duration_ms:.1f} ms",
            va="center",
            fontsize=7,
            color="#57606a",
        )
    names.set_axis_off()
    ax.set_ylim(len(table) - 0.5, -0.5)
    ax.tick_params(axis="y", left=False, labelleft=False)
    ax.set_xlim(0, total * 1.1)
    ax.set_xlabel("ms since the turn's first span")
    ax.grid(axis="x", alpha=0.3)
    handles = [Rectangle((0, 0), 1, 1, color=colour[s]) for s in services]
    fig.legend(handles, services, loc="upper left", ncol=len(services), fontsize=8, frameon=False)
    fig.suptitle(f"trace {trace_id}: {len(table)} spans, {total:.1f} ms", fontsize=10)
    fig.subplots_adjust(
        left=0.01, right=0.99, top=1 - 0.5 / fig.get_figheight(), bottom=0.6 / fig.get_figheight()
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trace-id", help="this trace (default: the newest chat turn)")
    parser.add_argument("--out", type=Path, help="the PNG (default: <run dir>/traces/<id>.png)")
    args = parser.parse_args(argv)
    settings = get_settings()
    trace = fetch(settings, args.trace_id)
    out = args.out or settings.stack.run_dir / "traces" / f"{trace['traceID']}.png"
    draw(trace["traceID"], rows(trace), out)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
