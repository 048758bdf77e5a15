"""The three virtual actors and their turn logic: ChatAgent (composed of its collaborators:
conversation, outbox, retention, idempotency, long turns, erasure), ResponseAgent,
MemoryAgentActor, their wire contracts (``interfaces``) and typed clients (``proxies``)."""
