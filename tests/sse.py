"""Reading Server-Sent Events in tests (unit: TestClient; integration: httpx)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any


def parse_sse(
    lines: Iterable[str], stop_after: int | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """``(event name, data)`` pairs, stopping after ``stop_after`` events if given."""
    events: list[tuple[str, dict[str, Any]]] = []
    name = ""
    for line in lines:
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            events.append((name, json.loads(line.removeprefix("data: "))))
            if stop_after is not None and len(events) >= stop_after:
                break
    return events
