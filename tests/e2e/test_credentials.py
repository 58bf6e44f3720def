"""Users' own provider credentials end to end: the user's key first, then the server's, then none; secrets
never stored or logged in clear; crypto-shredding; images inline or as owner-only artifacts."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.behaviour import assert_error_shape, png_size
from tests.fakes.anthropic_fake import AnthropicFake
from tests.fakes.google_fake import GoogleFake
from tests.fakes.openai_fake import OpenAIFake
from tests.support.processes import Gateway, embedded_gateway

SERVER_OPENAI_KEY = "sk-server-openai-0001"
USER_OPENAI_KEY = "sk-user-openai-zz1234"
USER_ANTHROPIC_KEY = "sk-ant-user-secret-7777"


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[OpenAIFake, AnthropicFake]]:
    with OpenAIFake(api_key=SERVER_OPENAI_KEY) as openai, AnthropicFake(api_key=USER_ANTHROPIC_KEY) as anthropic:
        yield openai, anthropic


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, fakes: Any) -> Iterator[Gateway]:
    openai, anthropic = fakes
    with embedded_gateway(tmp_path_factory.mktemp("creds") / "data", LLM_API_OPENAI_BASE_URL=openai.base_url,
                          LLM_API_OPENAI_API_KEY=SERVER_OPENAI_KEY, LLM_API_ANTHROPIC_BASE_URL=anthropic.base_url,
                          LLM_API_INLINE_MAX_BYTES="2000", LLM_API_LOG_LEVEL="DEBUG") as gateway:
        yield gateway


@pytest.fixture(scope="module")
def user(gateway: Gateway) -> dict[str, str]:
    return gateway.user("dora")


def generate(client: httpx.Client, model: str, prompt: str = "hi there") -> httpx.Response:
    return client.post("/v1/generate", json={"model": model, "input": {"prompt": prompt}})


def providers(client: httpx.Client) -> dict[str, dict]:
    return {p["name"]: p for p in client.get("/v1/providers").json()["providers"]}


def test_user_key_then_server_key_then_none(gateway: Gateway, user: dict, fakes: Any) -> None:
    openai, anthropic = fakes
    with gateway.client(user["api_key"]) as client:
        # none: a clear 4xx naming the setting and the Profile entry
        error = assert_error_shape(generate(client, "anthropic:claude-haiku-4-5"), 400, "provider_not_configured")
        assert "LLM_API_ANTHROPIC_API_KEY" in error["message"] and "/v1/me/credentials/anthropic" in error["message"]
        assert providers(client)["anthropic"]["configured"] is False

        # the user's own key
        saved = client.put("/v1/me/credentials/anthropic", json={"api_key": USER_ANTHROPIC_KEY})
        assert saved.status_code == 200 and saved.json()["last4"] == "7777"
        listed = client.get("/v1/me/credentials").json()["credentials"]
        assert [(c["provider"], c["last4"]) for c in listed] == [("anthropic", "7777")]
        assert USER_ANTHROPIC_KEY not in str(listed)
        assert providers(client)["anthropic"] == {**providers(client)["anthropic"], "configured": True,
                                                  "source": "user"}
        answer = generate(client, "anthropic:claude-haiku-4-5", "from my key")
        assert answer.status_code == 200, answer.text
        assert answer.json()["output"]["text"].endswith("from my key")
        assert anthropic.api_requests("/v1/messages")[-1].headers["x-api-key"] == USER_ANTHROPIC_KEY

        # the server-wide key serves a user without one
        assert providers(client)["openai"]["source"] == "server"
        assert generate(client, "openai:gpt-4o-mini").status_code == 200
        assert openai.api_requests("/chat/completions")[-1].headers["authorization"] == f"Bearer {SERVER_OPENAI_KEY}"

        # the user's key wins over the server's, and a refused one names where it came from
        assert client.put("/v1/me/credentials/openai", json={"api_key": USER_OPENAI_KEY}).status_code == 200
        assert providers(client)["openai"]["source"] == "user"
        error = assert_error_shape(generate(client, "openai:gpt-4o-mini"), 502, "provider_auth_failed")
        assert "openai" in error["message"].lower() and "Profile" in error["message"]
        assert USER_OPENAI_KEY not in error["message"]
        assert openai.api_requests("/chat/completions")[-1].headers["authorization"] == f"Bearer {USER_OPENAI_KEY}"

        assert client.delete("/v1/me/credentials/openai").status_code == 204
        assert generate(client, "openai:gpt-4o-mini").status_code == 200
        assert_error_shape(client.delete("/v1/me/credentials/openai"), 404)
        assert_error_shape(client.put("/v1/me/credentials/nobody", json={"api_key": "x"}), 404)
        assert_error_shape(client.put("/v1/me/credentials/openai", json={"key": "x"}), 422)


def test_no_plaintext_secret_in_storage_logs_or_metrics(gateway: Gateway, user: dict) -> None:
    with gateway.client(user["api_key"]) as client:
        client.put("/v1/me/credentials/openai", json={"api_key": USER_OPENAI_KEY})
        client.get("/v1/me/credentials")
    metrics = httpx.get(gateway.url + "/metrics").text
    stored = b"".join(p.read_bytes() for p in Path(gateway.data_dir).rglob("*") if p.is_file())
    log = gateway.processes["serve"].output()
    for secret in (USER_OPENAI_KEY, USER_ANTHROPIC_KEY, user["api_key"]):
        assert secret.encode() not in stored
        assert secret not in log
        assert secret not in metrics


def test_crypto_shredding_makes_stored_credentials_unreadable(gateway: Gateway) -> None:
    admin = gateway.user("root-admin", admin=True)
    eve = gateway.user("eve")
    with gateway.client(eve["api_key"]) as client:
        assert client.put("/v1/me/credentials/anthropic", json={"api_key": USER_ANTHROPIC_KEY}).status_code == 200
        assert generate(client, "anthropic:claude-haiku-4-5").status_code == 200
        with gateway.client(admin["api_key"]) as root:
            assert_error_shape(client.delete(f"/v1/admin/users/{eve['user_id']}/secrets"), 403)
            assert root.delete(f"/v1/admin/users/{eve['user_id']}/secrets").status_code == 204
        assert providers(client)["anthropic"]["configured"] is False
        assert_error_shape(generate(client, "anthropic:claude-haiku-4-5"), 400, "provider_not_configured")
        assert client.get("/v1/me/credentials").json()["credentials"] == []


def test_images_inline_or_as_owner_only_artifacts(gateway: Gateway) -> None:
    user, other = gateway.user("ivy"), gateway.user("mallory")
    with gateway.client(user["api_key"]) as client:
        small = client.post("/v1/generate", json={"modality": "image", "model": "openai:gpt-image-1",
                                                  "input": {"prompt": "a dot"},
                                                  "parameters": {"width": 256, "height": 256}})
        assert small.status_code == 200, small.text
        png = base64.b64decode(small.json()["output"]["images"][0])
        assert png.startswith(b"\x89PNG") and int.from_bytes(png[16:20], "big") == 256
        large = client.post("/v1/generate", json={"modality": "image", "model": "openai:gpt-image-1",
                                                  "input": {"prompt": "a wall"},
                                                  "parameters": {"width": 1024, "height": 1024}}).json()
        assert "images" not in large["output"]
        artifact = large["output"]["artifacts"][0]
        assert artifact["mime_type"] == "image/png" and artifact["size_bytes"] > 2000
        fetched = client.get(artifact["url"])
        assert fetched.status_code == 200 and fetched.content.startswith(b"\x89PNG")
        assert len(fetched.content) == artifact["size_bytes"]
    with gateway.client(other["api_key"]) as client:
        assert_error_shape(client.get(artifact["url"]), 404)


def test_model_list_falls_back_on_retryable_failures(gateway: Gateway, fakes: Any) -> None:
    openai, _ = fakes
    user = gateway.user("fallback-user")
    openai.script_error(503, "overloaded", times=3)  # the first model's call and both of its retries
    with gateway.client(user["api_key"]) as client:
        response = client.post("/v1/generate", json={"model": ["openai:gpt-4o", "openai:gpt-4o-mini"],
                                                     "input": {"prompt": "fall back"}})
        assert response.status_code == 200, response.text
        assert response.json()["model"] == "openai:gpt-4o-mini"
        assert [r.body["model"] for r in openai.api_requests("/chat/completions")[-4:]] == \
            ["gpt-4o", "gpt-4o", "gpt-4o", "gpt-4o-mini"]
        openai.script_error(400, "no such model")
        error = assert_error_shape(client.post("/v1/generate", json={"model": ["openai:x", "openai:gpt-4o-mini"],
                                                                     "input": {"prompt": "no fallback"}}), 400)
        assert error["code"] == "provider_rejected"


def test_rate_limit_passes_retry_after_on(gateway: Gateway, fakes: Any) -> None:
    openai, _ = fakes
    user = gateway.user("limited")
    openai.script_error(429, "slow down", retry_after=1, times=3)  # the call and both retries
    with gateway.client(user["api_key"]) as client:
        response = generate(client, "openai:gpt-4o-mini")
    assert_error_shape(response, 429, "provider_rate_limited")
    assert response.headers["Retry-After"] == "1"


def test_google_imagen_with_the_users_own_key(tmp_path: Path) -> None:
    imagen = {"modality": "image", "model": "google:imagen-4.0-generate-001", "input": {"prompt": "a red fox"}}
    with GoogleFake(api_key="g-user-key-4321") as google, \
            embedded_gateway(tmp_path / "data", LLM_API_GOOGLE_BASE_URL=google.base_url) as gateway, \
            gateway.client(gateway.user("gina")["api_key"]) as client:
        assert client.put("/v1/me/credentials/google", json={"api_key": "g-user-key-4321"}).status_code == 200
        assert "google:imagen-4.0-generate-001" in [m["id"] for m in client.get("/v1/models").json()["models"]]
        answer = client.post("/v1/generate", json={**imagen, "parameters": {"width": 1024, "height": 768}})
        assert answer.status_code == 200, answer.text
        assert png_size(base64.b64decode(answer.json()["output"]["images"][0])) == (1280, 896)  # 4:3
        refused = assert_error_shape(client.post("/v1/generate", json={**imagen, "parameters": {"seed": 3}}), 422)
        assert refused["param"] == "parameters.seed"
        assert len(google.api_requests(":predict")) == 1  # the refused one never left the gateway
