"""The OpenAPI document tells the truth: errors, auth, the SSE route, models, examples."""

from __future__ import annotations

from typing import Any

import pytest

from agent_actors.main import create_app
from agent_actors.settings import AuthSettings, Settings

ERROR_REF = "#/components/schemas/ErrorOut"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return create_app(Settings(auth=AuthSettings(app_api_token="unit-token"))).openapi()


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m.upper(), p, op) for p, ops in schema["paths"].items() for m, op in ops.items()]


def test_every_route_declares_the_error_model_for_its_errors(schema: dict[str, Any]) -> None:
    for method, path, op in operations(schema):
        errors = {s: r for s, r in op["responses"].items() if int(s) >= 400}
        assert "500" in errors, (method, path)
        for status, response in errors.items():
            body = response["content"]["application/json"]["schema"]
            assert body == {"$ref": ERROR_REF}, (method, path, status)
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    error = schema["components"]["schemas"]["ErrorOut"]
    assert set(error["required"]) == {"detail", "code"}


def test_a_users_routes_declare_auth_and_validation_errors(schema: dict[str, Any]) -> None:
    for method, path, op in operations(schema):
        if "{id}" in path:
            assert {"401", "403", "422"} <= set(op["responses"]), (method, path)
            assert op["security"] == [{"HTTPBearer": []}], (method, path)
    turn = schema["paths"]["/chat/{id}"]["post"]["responses"]
    assert {"413", "502", "503", "504"} <= set(turn)


def test_the_bearer_scheme_is_declared(schema: dict[str, Any]) -> None:
    scheme = schema["components"]["securitySchemes"]["HTTPBearer"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert schema["paths"]["/events/stats"]["get"]["security"] == [{"HTTPBearer": []}]
    assert schema["paths"]["/inspect/runtime"]["get"]["security"] == [{"HTTPBearer": []}]


def test_the_stream_route_is_documented_as_server_sent_events(schema: dict[str, Any]) -> None:
    ok = schema["paths"]["/chat/{id}/stream"]["post"]["responses"]["200"]
    assert list(ok["content"]) == ["text/event-stream"]
    assert "event: done" in ok["content"]["text/event-stream"]["example"]


def test_sidecar_routes_are_not_in_the_document(schema: dict[str, Any]) -> None:
    paths = set(schema["paths"])
    assert not [p for p in paths if p.startswith(("/actors", "/subscribe", "/dapr/"))]
    assert "/ui" not in paths
    assert {"/healthz", "/metrics", "/chat/{id}", "/inspect/runtime"} <= paths


def test_inspect_routes_have_response_models(schema: dict[str, Any]) -> None:
    inspect = [(m, p, op) for m, p, op in operations(schema) if "inspect" in op.get("tags", [])]
    assert {p for _, p, _ in inspect} >= {"/inspect/runtime", "/inspect/{id}/cache"}
    for method, path, op in inspect:
        body = op["responses"]["200"]["content"]["application/json"]["schema"]
        assert "$ref" in body, (method, path)


def test_request_bodies_carry_examples(schema: dict[str, Any]) -> None:
    bodies = [op["requestBody"] for _, _, op in operations(schema) if "requestBody" in op]
    assert bodies
    for body in bodies:
        ref = body["content"]["application/json"]["schema"]["$ref"]
        model = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
        assert model["examples"], ref
