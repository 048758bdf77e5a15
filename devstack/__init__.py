"""The development stack: Redis, placement, scheduler, daprd and the app, supervised as one
(``make run`` / ``make up``, the integration tests, the benchmarks). Not part of the service:
the image carries ``src/agent_actors`` only, and nothing there imports this package."""
