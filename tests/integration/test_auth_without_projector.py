"""A key made by the CLI works at once even while the projector is stopped: the unapplied events are the record."""

from __future__ import annotations

from typing import Any

from tests.e2e.behaviour import assert_error_shape
from tests.support.processes import production_gateway


def test_fresh_key_works_while_the_projector_is_down(tmp_path: Any, pg_url: str, nats_url: str, run_id: str) -> None:
    with production_gateway(tmp_path / "data", pg_url, nats_url, prefix=f"plg{run_id}k", schema=f"auth_{run_id}",
                            LLM_API_READ_YOUR_WRITES_TIMEOUT_S="0.5") as gateway:
        gateway.processes["project"].stop()
        user = gateway.user("late")
        with gateway.client(user["api_key"]) as client:
            assert client.get("/v1/me").json()["username"] == "late"
        with gateway.client("pk-not-a-real-key") as client:
            assert_error_shape(client.get("/v1/me"), 401, "unauthorized")
