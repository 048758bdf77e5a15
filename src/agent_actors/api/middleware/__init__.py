"""The ASGI layers, outermost first (``create_app`` adds them innermost first).

- ``sidecar_token.py``: the sidecar's routes refuse a call without daprd's app token
- ``body_limit.py``: a body over the limit is answered 413 before it is read
- ``sidecar_watch.py``: daprd (re)connecting makes the app forget its cached actors
- ``event_deliveries.py``: ``POST /subscribe`` served before FastAPI's routing
- ``actor_calls.py``: daprd's actor method calls, straight to the SDK's dispatch
- ``plain_asgi.py``: reading a whole body and sending a whole answer, for the two above
"""
