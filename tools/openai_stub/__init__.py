"""A deterministic OpenAI-compatible server for tests and benchmarks (see ``server.py``)."""

from tools.openai_stub.server import StubServer, StubState, build_app

__all__ = ["StubServer", "StubState", "build_app"]
