"""Logging set-up: plain lines locally, JSON lines in containers; never a secret."""

from __future__ import annotations

import json
import logging

from agent_actors.settings import Settings


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "time": self.formatTime(record),
                "level": record.levelname,
                "logger": record.name,
                "message": record.getMessage(),
            }
        )


def configure(settings: Settings) -> None:
    root = logging.getLogger()
    if getattr(root, "_agent_actors", False):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter()
        if settings.log_json
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    root._agent_actors = True  # type: ignore[attr-defined]
