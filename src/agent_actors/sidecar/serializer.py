"""The JSON serializer for actor calls, their results and actor state: text stays text.

The SDK's ``DefaultJSONSerializer`` decodes every string that looks like a date or a duration
("2024-01-01", "10s", "5m") into a ``datetime`` or ``timedelta`` (or raises), so a user who
writes "10s" got a 503 and a model reply starting with a date failed after it was counted.
This one encodes as the SDK does (the SDK itself serializes reminder and timer requests with
``timedelta`` values through it) and decodes with the plain ``json`` module.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from dapr.serializers import DefaultJSONSerializer


class PlainJSONSerializer(DefaultJSONSerializer):
    def __init__(self) -> None:
        # ensure_ascii: a stray lone surrogate is escaped instead of failing the encode.
        super().__init__(ensure_ascii=True)

    def deserialize(
        self,
        data: bytes,
        data_type: type | None = object,
        custom_hook: Callable[[Any], object] | None = None,
    ) -> Any:
        if not isinstance(data, (str, bytes)):
            raise ValueError("data must be str or bytes")
        obj = json.loads(data)
        return custom_hook(obj) if callable(custom_hook) else obj


SERIALIZER = PlainJSONSerializer()
