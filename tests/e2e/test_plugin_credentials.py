"""A third-party runtime plugin gets credentials like ours: a real gateway process finds it through the
``pluggably.runtimes`` entry point of a distribution on its path (``tests/plugins/site``), lists it, takes a user's
credential for it over HTTP, and the plugin runs with that very key; its own settings (``LLM_API_ECHO_API_KEY``)
serve users without one, its menu is listed, its prices meter the usage."""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from tests.e2e.behaviour import assert_error_shape, eventually
from tests.plugins.site.echo_runtime import fingerprint
from tests.support.processes import embedded_gateway

SITE = Path(__file__).resolve().parents[1] / "plugins" / "site"
USER_KEY = "echo-user-secret-0042"
SERVER_KEY = "echo-server-secret-0099"


def plugin_path() -> str:
    return os.pathsep.join(filter(None, [str(SITE), os.environ.get("PYTHONPATH")]))


def generate(client: httpx.Client, prompt: str) -> httpx.Response:
    return client.post("/v1/generate", json={"model": "echo:echo-1", "input": {"prompt": prompt}})


def providers(client: httpx.Client) -> dict[str, dict]:
    return {p["name"]: p for p in client.get("/v1/providers").json()["providers"]}


def test_a_plugin_takes_a_users_credential_over_http_and_runs_with_it(tmp_path: Path) -> None:
    with embedded_gateway(tmp_path / "data", PYTHONPATH=plugin_path()) as gateway, \
            gateway.client(gateway.user("plug")["api_key"]) as client:
        assert providers(client)["echo"] == {"name": "echo", "configured": False, "source": None,
                                             "supported_modalities": ["text"]}
        error = assert_error_shape(generate(client, "hello"), 400, "provider_not_configured")
        assert "LLM_API_ECHO_API_KEY" in error["message"] and "/v1/me/credentials/echo" in error["message"]

        assert_error_shape(client.put("/v1/me/credentials/echo", json={"api_key": USER_KEY,
                                                                       "endpoint": "https://x.example"}), 422)
        saved = client.put("/v1/me/credentials/echo", json={"api_key": USER_KEY})
        assert saved.status_code == 200, saved.text
        assert saved.json()["last4"] == "0042"
        assert [c["provider"] for c in client.get("/v1/me/credentials").json()["credentials"]] == ["echo"]
        assert providers(client)["echo"]["source"] == "user"
        assert "echo:echo-1" in [m["id"] for m in client.get("/v1/models").json()["models"]]

        answer = generate(client, "hello plugin")
        assert answer.status_code == 200, answer.text
        assert answer.json()["output"]["text"] == f"hello plugin [key {fingerprint(USER_KEY)} from the user]"

        def metered() -> dict:
            rows = [r for r in client.get("/v1/usage").json()["usage"] if r["provider"] == "echo"]
            assert rows and rows[0]["requests"] == 1
            return rows[0]

        assert eventually(metered)["cost_usd"] == 2.0  # two input tokens at the plugin's price
        assert client.delete("/v1/me/credentials/echo").status_code == 204
        assert_error_shape(generate(client, "hello"), 400, "provider_not_configured")


def test_a_plugins_own_settings_serve_users_without_a_credential(tmp_path: Path) -> None:
    with embedded_gateway(tmp_path / "data", PYTHONPATH=plugin_path(), LLM_API_ECHO_API_KEY=SERVER_KEY) as gateway, \
            gateway.client(gateway.user("plain")["api_key"]) as client:
        assert providers(client)["echo"]["source"] == "server"
        answer = generate(client, "from the server")
        assert answer.status_code == 200, answer.text
        assert answer.json()["output"]["text"] == f"from the server [key {fingerprint(SERVER_KEY)} from the server]"
