"""The OpenAPI contract (docs/contracts/openapi.yaml) against the route table of the real Sanic app.

The app is built exactly as ``pluggably serve`` builds it (``create_app(build(...))``), on a temporary
SQLite data dir and the in-process bus, without starting a server: every (method, path) it serves must be
documented, every documented one must exist, and every documented error answer must use the shared error shape.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = ROOT / "docs" / "contracts" / "openapi.yaml"
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
ERROR_SCHEMA = "#/components/schemas/Error"
SSE_ROUTES = {("POST", "/v1/generate"), ("POST", "/v1/sessions/{session_id}/generate"),
              ("GET", "/v1/generations/{generation_id}/events"), ("GET", "/v1/jobs/{job_id}/events"),
              ("POST", "/openai/v1/chat/completions")}
#: Error statuses whose body is deliberately not the error shape, and why.
NOT_ERROR_SHAPED = {("GET", "/ready", "503"): "a readiness report: {status: not_ready, down: [...]}"}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC_PATH.read_text())


@pytest.fixture(scope="module")
def app_routes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[set[tuple[str, str]]]:
    from api.app import create_app
    from api.bootstrap import API, build, migrate
    from infra.settings import Settings

    data_dir = tmp_path_factory.mktemp("openapi-data")
    settings = Settings(_env_file=None, data_dir=data_dir, database_url=None, database_schema=None, nats_url=None,
                        master_key=None, key_hash_secret=None)
    container = build(settings, {API})
    try:
        migrate(container)
        app = create_app(container, name=f"openapi_contract_{uuid.uuid4().hex[:8]}")
        routes = {(method.upper(), normalise(route.uri)) for route in app.router.routes for method in route.methods}
        yield routes
    finally:
        container.close()


def normalise(path: str) -> str:
    """``/v1/sessions/<session_id:str>`` (Sanic) and ``/v1/sessions/{session_id}`` (OpenAPI) → one form."""
    path = "/" + path.strip("/")
    return re.sub(r"<([^:>]+)(?::[^>]*)?>", r"{\1}", path)


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in HTTP_METHODS:
                yield method.upper(), path, item, op


def resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), f"only local references: {ref}"
        node = spec
        for part in ref[2:].split("/"):
            node = node[part]
    return node


def test_every_route_of_the_app_is_documented_and_nothing_else(spec, app_routes) -> None:
    documented = {(method, normalise(path)) for method, path, _, _ in operations(spec)}
    missing = sorted(app_routes - documented)
    extra = sorted(documented - app_routes)
    assert not missing, f"routes the app serves but openapi.yaml lacks: {missing}"
    assert not extra, f"routes openapi.yaml documents but the app does not serve: {extra}"


def test_path_parameters_are_declared(spec) -> None:
    for method, path, item, op in operations(spec):
        declared = {resolve(spec, p)["name"] for p in item.get("parameters", []) + op.get("parameters", [])
                    if resolve(spec, p)["in"] == "path"}
        assert declared == set(re.findall(r"{([^}]+)}", path)), f"{method} {path}: path parameters {declared}"


def test_every_reference_resolves(spec) -> None:
    def walk(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                yield node["$ref"]
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)

    for ref in walk(spec):
        resolve(spec, {"$ref": ref})


def test_the_error_shape_is_one_shared_component(spec) -> None:
    error = spec["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    inner = resolve(spec, error["properties"]["error"])
    assert set(inner["required"]) == {"code", "message", "type", "param", "request_id"}


def test_every_error_response_uses_the_shared_error_schema(spec) -> None:
    for method, path, _, op in operations(spec):
        assert "500" in op["responses"], f"{method} {path}: every route can answer 500"
        for status, response in op["responses"].items():
            if not str(status)[0] in "45" or (method, path, str(status)) in NOT_ERROR_SHAPED:
                continue
            content = resolve(spec, response).get("content", {})
            assert set(content) == {"application/json"}, f"{method} {path} {status}: content {set(content)}"
            schema = content["application/json"]["schema"]
            assert schema == {"$ref": ERROR_SCHEMA}, f"{method} {path} {status}: schema {schema}"


def test_v1_and_openai_routes_need_the_api_key_and_the_others_do_not(spec) -> None:
    from api.app import PUBLIC_PATHS

    scheme = spec["components"]["securitySchemes"]["ApiKey"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "X-API-Key")
    assert PUBLIC_PATHS == {"/v1/auth/login"}
    for method, path, _, op in operations(spec):
        security = op.get("security", spec.get("security", []))
        if path.startswith(("/v1/", "/openai/v1/")) and path not in PUBLIC_PATHS:
            assert {"ApiKey": []} in security, f"{method} {path} must need X-API-Key"
            assert "401" in op["responses"], f"{method} {path} can answer 401"
        else:
            assert security == [], f"{method} {path} needs no API key"


def test_streaming_routes_document_server_sent_events(spec) -> None:
    schemas = spec["components"]["schemas"]
    assert set(schemas["SseStream"]["x-sse-events"]) == {"token", "progress", "done", "error"}
    assert set(schemas["JobEventStream"]["x-sse-events"]) == {"progress", "done", "error"}
    for method, path, _, op in operations(spec):
        content = resolve(spec, op["responses"].get("200", {})).get("content", {})
        assert ("text/event-stream" in content) == ((method, path) in SSE_ROUTES), f"{method} {path}"
