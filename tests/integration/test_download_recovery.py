"""Model downloads on the production topology (PostgreSQL, NATS, separate serve/worker/project processes): a worker
killed mid-download is replaced and the job resumes from the bytes on disk; a cancel reaches the worker."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.e2e.behaviour import eventually
from tests.fakes.hf_hub import FakeHub
from tests.support.processes import Gateway, cli, production_gateway, spawn

BIG = os.urandom(2_000_000)


@pytest.fixture(scope="module")
def hub() -> Iterator[FakeHub]:
    with FakeHub(bytes_per_second=400_000) as fake:
        fake.add_repo("org/big-llama", files={"model.gguf": BIG}, library="gguf")
        fake.add_repo("org/small-llama", files={"model.gguf": b"GGUF" + bytes(50_000)}, library="gguf")
        yield fake


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, hub: FakeHub, pg_url: str, nats_url: str,
            run_id: str) -> Iterator[Gateway]:
    schema = f"downloads_{run_id}"
    data = tmp_path_factory.mktemp("downloads") / "data"
    with production_gateway(data, pg_url, nats_url, prefix=f"plg{run_id}d", schema=schema,
                            LLM_API_HF_ENDPOINT=hub.url, LLM_API_WORK_ACK_WAIT_S="3") as gateway:
        gateway.pg_url, gateway.schema = pg_url, schema
        yield gateway


def request(client, model_id: str, repo: str = "org/big-llama") -> dict:
    response = client.post("/v1/models/download", json={
        "model": {"id": model_id, "modality": "text"}, "source": {"type": "huggingface", "id": repo}})
    assert response.status_code == 202, response.text
    return response.json()


def progressed(client, job_id: str, at_least: int) -> None:
    assert client.get(f"/v1/jobs/{job_id}").json()["bytes_done"] >= at_least


def test_killed_worker_download_resumes_on_another(gateway: Gateway, hub: FakeHub) -> None:
    with gateway.client(gateway.user("ops", admin=True)["api_key"]) as client:
        job = request(client, "resumed")
        eventually(lambda: progressed(client, job["job_id"], len(BIG) // 5), timeout=40)
        gateway.processes["worker"].kill()
        part = Path(gateway.data_dir) / "models" / "resumed" / "model.gguf.part"
        kept = part.stat().st_size
        assert 0 < kept < len(BIG)
        gateway.processes["worker"] = spawn(["worker"], gateway.env, gateway.data_dir.parent / "worker2.log")

        def completed() -> None:
            assert client.get(f"/v1/jobs/{job['job_id']}").json()["status"] == "completed"

        eventually(completed, timeout=60)
        target = Path(gateway.data_dir) / "models" / "resumed" / "model.gguf"
        assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(BIG).digest()
        assert ("model.gguf", f"bytes={kept}-") in hub.range_requests
        assert "local:resumed" in [m["id"] for m in client.get("/v1/models").json()["models"]]
    with psycopg.connect(gateway.pg_url) as conn:
        topics = [r[0].rsplit(".", 1)[-1] for r in conn.execute(
            f'SELECT topic FROM "{gateway.schema}".pluggably_events WHERE originator_id = %s '
            "ORDER BY originator_version", (job["job_id"],))]
    assert topics[0] == "Requested" and topics.count("Started") == 2 and topics[-1] == "Completed"


def test_cancel_reaches_the_worker_and_removes_the_files(gateway: Gateway) -> None:
    with gateway.client(gateway.user("ops2", admin=True)["api_key"]) as client:
        job = request(client, "cancelled")
        eventually(lambda: progressed(client, job["job_id"], 1), timeout=40)
        response = client.delete(f"/v1/jobs/{job['job_id']}")
        assert response.status_code == 200 and response.json()["status"] == "cancelled", response.text
        assert not (Path(gateway.data_dir) / "models" / "cancelled").exists()


def test_rebuilt_download_views_give_the_same_rows(gateway: Gateway) -> None:
    owner, joiner = gateway.user("ops3", admin=True), gateway.user("ops4", admin=True)
    with gateway.client(owner["api_key"]) as first, gateway.client(joiner["api_key"]) as second:
        job = request(first, "rebuilt", "org/small-llama")
        again = second.post("/v1/models/download", json={  # 202 while it runs, 200 once it is done
            "model": {"id": "rebuilt", "modality": "text"}, "source": {"type": "huggingface", "id": "org/small-llama"}})
        assert again.status_code in (200, 202) and again.json()["job_id"] == job["job_id"], again.text
        eventually(lambda: _assert_status(second, job["job_id"], "completed"))
        assert job["job_id"] in [j["job_id"] for j in second.get("/v1/jobs").json()["jobs"]]
    gateway.processes["project"].stop()
    views = {"jobs": [("download_jobs", "id"), ("download_job_watchers", "job_id, user_id")],
             "models": [("local_models", "id")]}
    for name, tables in views.items():
        before = {table: _rows(gateway, table, order) for table, order in tables}
        assert all(before.values())
        assert cli(["project", "--rebuild", name], gateway.env).strip() == f"rebuilt {name}"
        assert {table: _rows(gateway, table, order) for table, order in tables} == before
    gateway.processes["project"] = spawn(["project"], gateway.env, gateway.data_dir.parent / "project2.log")


def test_a_worker_that_missed_a_removal_deletes_the_files_when_it_starts(gateway: Gateway) -> None:
    with gateway.client(gateway.user("ops5", admin=True)["api_key"]) as client:
        job = request(client, "missed", "org/small-llama")
        eventually(lambda: _assert_status(client, job["job_id"], "completed"))
        folder = Path(gateway.data_dir) / "models" / "missed"
        assert folder.is_dir()
        gateway.processes["worker"].stop()
        assert client.delete("/v1/models/local:missed").status_code == 200
        assert folder.is_dir()  # no download worker heard of it
        gateway.processes["worker"] = spawn(["worker"], gateway.env, gateway.data_dir.parent / "worker3.log")
        eventually(lambda: _assert_gone(folder))


def _assert_gone(folder: Path) -> None:
    assert not folder.exists() and not list(folder.parent.glob(".removed-*"))


def _assert_status(client, job_id: str, status: str) -> None:
    assert client.get(f"/v1/jobs/{job_id}").json()["status"] == status


def _rows(gateway: Gateway, table: str, order: str) -> list[tuple]:
    with psycopg.connect(gateway.pg_url) as conn:
        return conn.execute(f'SELECT * FROM "{gateway.schema}".{table} ORDER BY {order}').fetchall()
