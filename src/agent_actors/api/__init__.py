"""The HTTP API: routes by URL prefix, the ASGI layers, schemas, dependencies, auth, and the
error tree as HTTP."""
