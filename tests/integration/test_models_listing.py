"""``GET /v1/models`` reads the models view, not only what the relay has delivered to the API process: a model
registered while the relay is down is listed once the models view has it (as the job's status already says)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.hf_hub import FakeHub
from tests.support.processes import PLUGGABLY, ROOT, cli, production_gateway


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub() as fake:
        fake.add_repo("org/small-llama", files={"model.gguf": b"GGUF" + bytes(1000)}, library="gguf")
        yield fake


def test_listing_shows_a_model_the_relay_has_not_delivered(tmp_path: Any, hub: FakeHub, pg_url: str, nats_url: str,
                                                           run_id: str) -> None:
    with production_gateway(tmp_path / "data", pg_url, nats_url, prefix=f"plg{run_id}m", schema=f"listing_{run_id}",
                            LLM_API_HF_ENDPOINT=hub.url, LLM_API_READ_YOUR_WRITES_TIMEOUT_S="0.5") as gateway:
        user = gateway.user("lister")
        gateway.processes["project"].stop()  # no relay: the API process hears of no new model
        cli(["models", "pull", "org/small-llama", "--id", "quiet"], gateway.env)
        with gateway.client(user["api_key"]) as client:
            assert "local:quiet" not in [m["id"] for m in client.get("/v1/models").json()["models"]]
            cli(["project", "--rebuild", "models"], gateway.env)  # the models view has it; still no relay
            listed = {m["id"]: m for m in client.get("/v1/models").json()["models"]}
            assert listed["local:quiet"]["status"] == "available" and listed["local:quiet"]["modality"] == "text"
        assert (gateway.data_dir / "models" / "quiet").is_dir()
        assert cli(["models", "rm", "quiet"], gateway.env).strip() == "removed local:quiet"
        assert not (gateway.data_dir / "models" / "quiet").exists()
        again = subprocess.run([*PLUGGABLY, "models", "rm", "local:quiet"], cwd=ROOT, env=gateway.env,
                               capture_output=True, text=True)
        assert again.returncode == 1 and "error: No local model local:quiet." in again.stderr
