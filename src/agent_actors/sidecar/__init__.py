"""The one seam to daprd and the Dapr SDK: the pooled client and its HTTP/1.1 pool, failures
mapped once, the actor client, serializer, reminders, runtime config, state-cache trim. The
only room that touches the SDK's private attributes (tests/unit/test_layers.py checks)."""
