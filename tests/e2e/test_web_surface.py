"""What the gateway does for browsers: it serves the web app's build at ``/`` (hashed assets cached for good, the
app's routes answering ``index.html``, the API's paths left alone), says how to build it when there is none,
answers CORS for the configured origins, and signs in without ever logging the password."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from tests.e2e.behaviour import assert_error_shape, eventually
from tests.support.processes import Gateway, embedded_gateway

PASSWORD = "correct-horse-battery"
INDEX = "<!doctype html><title>PlugAI</title><script type=module src=/assets/index-3f2a9c.js></script>"
ORIGIN = "http://localhost:5173"


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    (dist / "assets").mkdir()
    (dist / "index.html").write_text(INDEX)
    (dist / "assets" / "index-3f2a9c.js").write_text("console.log('app')")
    (dist / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (dist / ".secret").write_text("not served")
    (dist.parent / "outside.txt").write_text("not served either")
    return dist


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, build: Path) -> Iterator[Gateway]:
    with embedded_gateway(tmp_path_factory.mktemp("web") / "data", LLM_API_WEB_DIR=str(build),
                          LLM_API_CORS_ORIGINS=f"{ORIGIN}, https://app.example.org", LLM_API_LOG_LEVEL="DEBUG",
                          LLM_API_SESSION_TTL_S="2") as gateway:
        yield gateway


def test_the_app_and_its_routes_are_served(gateway: Gateway) -> None:
    for path in ("/", "/chat", "/chat/0b6c7e1e-session", "/models?query=x", "/v1x", "/healthy"):
        page = httpx.get(gateway.url + path)
        assert page.status_code == 200 and page.text == INDEX, path
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-cache"
        assert "script-src 'self'" in page.headers["content-security-policy"]
    asset = httpx.get(gateway.url + "/assets/index-3f2a9c.js")
    assert asset.status_code == 200 and asset.text == "console.log('app')"
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "javascript" in asset.headers["content-type"]
    icon = httpx.get(gateway.url + "/favicon.svg")
    assert icon.status_code == 200 and icon.headers["cache-control"] == "no-cache"
    assert_error_shape(httpx.get(gateway.url + "/assets/index-old.js"), 404, "not_found")


def test_nothing_outside_the_build_is_served(gateway: Gateway) -> None:
    for path in ("/.secret", "/../outside.txt", "/assets/../../outside.txt", "/%2e%2e/outside.txt"):
        response = httpx.get(gateway.url + path)
        assert "not served" not in response.text, path


def test_the_api_paths_are_untouched(gateway: Gateway) -> None:
    assert httpx.get(gateway.url + "/health").json() == {"status": "ok"}
    assert httpx.get(gateway.url + "/ready").json() == {"status": "ready"}
    assert "llm_api_request_count" in httpx.get(gateway.url + "/metrics").text
    key = gateway.user("web-user")["api_key"]
    with gateway.client(key) as client:
        assert_error_shape(client.get("/v1/no-such-thing"), 404, "not_found")
        assert_error_shape(client.post("/v1/no-such-thing"), 404, "not_found")
        assert_error_shape(client.get("/openai/v1/nothing"), 404, "not_found")
        assert_error_shape(client.get("/v1"), 404)
    assert_error_shape(httpx.get(gateway.url + "/v1/sessions"), 401)
    assert_error_shape(httpx.post(gateway.url + "/chat"), 405)


def test_cors_for_the_configured_origins(gateway: Gateway) -> None:
    key = gateway.user("cors-user")["api_key"]
    preflight = httpx.options(gateway.url + "/v1/sessions", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-api-key, content-type"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "X-API-Key" in preflight.headers["access-control-allow-headers"]
    assert "POST" in preflight.headers["access-control-allow-methods"]
    answer = httpx.get(gateway.url + "/v1/me", headers={"Origin": ORIGIN, "X-API-Key": key})
    assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == ORIGIN
    assert "X-Generation-ID" in answer.headers["access-control-expose-headers"]
    refused = httpx.get(gateway.url + "/v1/me", headers={"Origin": ORIGIN, "X-API-Key": "pk-wrong"})
    assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == ORIGIN  # readable
    other = httpx.get(gateway.url + "/v1/me", headers={"Origin": "https://evil.example", "X-API-Key": key})
    assert "access-control-allow-origin" not in other.headers
    other_preflight = httpx.options(gateway.url + "/v1/me", headers={"Origin": "https://evil.example",
                                                                     "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in other_preflight.headers


def test_a_session_key_expires_and_the_password_is_never_logged(gateway: Gateway) -> None:
    gateway.user("heidi")
    wrong = "Wr0ng-Pa55word-Sentinel"
    assert httpx.post(gateway.url + "/v1/auth/login", json={"username": "heidi", "password": wrong}).status_code == 401
    before = datetime.now(timezone.utc)
    signed_in = httpx.post(gateway.url + "/v1/auth/login", json={"username": "heidi", "password": PASSWORD}).json()
    lifetime = datetime.fromisoformat(signed_in["expires_at"]) - before
    assert timedelta(seconds=0) < lifetime <= timedelta(seconds=3)  # LLM_API_SESSION_TTL_S=2
    with gateway.client(signed_in["api_key"]) as session:
        eventually(lambda: assert_error_shape(session.get("/v1/me"), 401))
    log = gateway.processes["serve"].output()
    assert wrong not in log and PASSWORD not in log


def test_without_a_build_the_gateway_says_how_to_make_one(tmp_path: Path) -> None:
    with embedded_gateway(tmp_path / "data", LLM_API_WEB_DIR=str(tmp_path / "no-build")) as gateway:
        for path in ("/", "/chat"):
            page = httpx.get(gateway.url + path)
            assert page.status_code == 200 and "not built" in page.text and "npm ci" in page.text
            assert "make run" in page.text
        assert httpx.get(gateway.url + "/health").json() == {"status": "ok"}
