"""A deterministic OpenAI-compatible server for tests and benchmarks (see ``server.py``).

Import from ``tools.openai_stub.server``: importing it here would make
``python -m tools.openai_stub.server`` warn that the module was already imported.
"""
