"""Model management over HTTP against a real embedded gateway and the fake Hugging Face hub: search, downloads as
jobs (progress, cancel, duplicates, failures, kill and resume) and the catalogue."""

from __future__ import annotations

import hashlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.behaviour import assert_error_shape, eventually, sse_events
from tests.fakes.hf_hub import FakeHub
from tests.support.processes import Gateway, embedded_gateway

WEIGHTS = os.urandom(400_000)
BIG = os.urandom(2_000_000)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def body(model_id: str, repo: str, modality: str = "text", **options: Any) -> dict[str, Any]:
    return {"model": {"id": model_id, "name": model_id, "version": "1", "modality": modality},
            "source": {"type": "huggingface", "id": repo}, "options": options}


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


def wait_job(client: httpx.Client, job_id: str, *statuses: str, timeout: float = 30) -> dict[str, Any]:
    def check() -> dict[str, Any]:
        job = client.get(f"/v1/jobs/{job_id}").json()
        assert job["status"] in statuses, (job["status"], job["error"], job["bytes_done"])
        return job

    return eventually(check, timeout)


@pytest.fixture(scope="module")
def hub() -> Iterator[FakeHub]:
    with FakeHub(page_size=2) as fake:
        fake.add_repo("org/tiny-llama", files={"model.gguf": WEIGHTS, "config.json": b"{}"},
                      pipeline_tag="text-generation", library="gguf", downloads=500)
        fake.add_repo("org/big-llama", files={"model.gguf": BIG}, library="gguf", downloads=400)
        for i in range(3):
            fake.add_repo(f"org/llama-{i}", files={"a.gguf": b"x"}, library="gguf", downloads=i)
        fake.add_repo("org/tiny-sd", files={"model_index.json": b"{}"}, pipeline_tag="text-to-image",
                      library="diffusers", downloads=50)
        yield fake


@pytest.fixture
def slow(hub: FakeHub) -> Iterator[FakeHub]:
    hub.bytes_per_second = 400_000
    yield hub
    hub.bytes_per_second = None


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, hub: FakeHub) -> Iterator[Gateway]:
    with embedded_gateway(tmp_path_factory.mktemp("models") / "data", LLM_API_HF_ENDPOINT=hub.url) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def admin(gateway: Gateway) -> Iterator[httpx.Client]:
    with gateway.client(gateway.user("root", admin=True)["api_key"]) as client:
        yield client


@pytest.fixture(scope="module")
def user(gateway: Gateway) -> Iterator[httpx.Client]:
    with gateway.client(gateway.user("plain")["api_key"]) as client:
        yield client


def test_search_pages_through_the_hub(admin: httpx.Client) -> None:
    seen, cursor, pages = [], None, 0
    while True:
        params = {"source": "huggingface", "query": "llama", "limit": 2, **({"cursor": cursor} if cursor else {})}
        response = admin.get("/v1/models/search", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        pages += 1
        seen += [r["id"] for r in page["results"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == ["org/tiny-llama", "org/big-llama", "org/llama-2", "org/llama-1", "org/llama-0"]
    first = admin.get("/v1/models/search", params={"query": "tiny", "modality": "image"}).json()["results"]
    assert [r["id"] for r in first] == ["org/tiny-sd"]
    assert set(first[0]) == {"id", "name", "tags", "modality_hints", "downloads", "last_modified"}
    assert first[0]["modality_hints"] == ["image"] and first[0]["name"] == "tiny-sd"
    assert_error_shape(admin.get("/v1/models/search", params={"limit": 0}), 422)
    assert_error_shape(admin.get("/v1/models/search", params={"source": "civitai"}), 422)
    assert_error_shape(admin.get("/v1/models/search", params={"cursor": "garbage"}), 422)


def test_download_reports_progress_in_order_and_registers_the_model(gateway: Gateway, admin: httpx.Client,
                                                                    slow: FakeHub) -> None:
    response = admin.post("/v1/models/download", json=body("tiny", "org/tiny-llama", allow_patterns=["*.gguf"]))
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["model_id"] == "local:tiny" and job["status"] == "queued" and job["progress_pct"] == 0
    assert job["job_id"] and job["created_at"] and job["bytes_total"] == len(WEIGHTS)

    with admin.stream("GET", f"/v1/jobs/{job['job_id']}/events") as stream:
        events = sse_events(stream.read().decode())
    assert events[-1]["event"] == "done", events
    progress = [e for e in events if e["event"] == "progress"]
    assert len(progress) >= 3
    done_bytes = [e["data"]["bytes_done"] for e in progress]
    assert done_bytes == sorted(done_bytes) and 0 < done_bytes[-1] <= len(WEIGHTS)
    ids = [int(e["id"]) for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert events[-1]["data"]["status"] == "completed" and events[-1]["data"]["progress_pct"] == 100

    final = admin.get(f"/v1/jobs/{job['job_id']}").json()
    assert final["status"] == "completed" and final["bytes_done"] == final["bytes_total"] == len(WEIGHTS)
    assert final["error"] is None
    assert job["job_id"] in [j["job_id"] for j in admin.get("/v1/jobs").json()["jobs"]]
    folder = gateway.data_dir / "models" / "tiny"
    assert files_under(folder) == ["model.gguf"]
    assert sha256((folder / "model.gguf").read_bytes()) == sha256(WEIGHTS)

    models = {m["id"]: m for m in admin.get("/v1/models", params={"modality": "text"}).json()["models"]}
    assert models["local:tiny"] == {"id": "local:tiny", "name": "tiny", "version": "1", "modality": "text",
                                    "runtime": "llamacpp", "local": True, "size_bytes": len(WEIGHTS),
                                    "status": "available"}
    assert not admin.get("/v1/models", params={"modality": "image"}).json()["models"]


def test_asking_again_returns_the_running_job_then_answers_at_once(admin: httpx.Client, slow: FakeHub) -> None:
    first = admin.post("/v1/models/download", json=body("again", "org/tiny-llama", allow_patterns=["*.gguf"]))
    second = admin.post("/v1/models/download", json=body("again", "org/tiny-llama", allow_patterns=["*.gguf"]))
    assert first.status_code == second.status_code == 202
    assert second.json()["job_id"] == first.json()["job_id"]
    wait_job(admin, first.json()["job_id"], "completed")
    asked = len(slow.requests)
    third = admin.post("/v1/models/download", json=body("again", "org/tiny-llama"))
    assert third.status_code == 200 and len(slow.requests) == asked  # answered without asking the hub
    assert third.json()["job_id"] == first.json()["job_id"] and third.json()["status"] == "completed"
    taken = admin.post("/v1/models/download", json=body("again", "org/big-llama"))
    assert_error_shape(taken, 409, "model_exists")


def test_users_asking_for_a_model_already_downloading_follow_that_job(tmp_path: Path, slow: FakeHub) -> None:
    slow.bytes_per_second = 150_000  # about three seconds
    with embedded_gateway(tmp_path / "data", LLM_API_HF_ENDPOINT=slow.url, LLM_API_ALLOW_USER_DOWNLOADS="true") as gw:
        alice, bob, carol = (gw.client(gw.user(name)["api_key"]) for name in ("alice", "bob", "carol"))
        with alice, bob, carol:
            first = alice.post("/v1/models/download", json=body("shared", "org/tiny-llama")).json()
            joined = bob.post("/v1/models/download", json=body("shared", "org/tiny-llama"))
            assert joined.status_code in (200, 202) and joined.json()["job_id"] == first["job_id"]  # 202 unless done
            assert bob.get(f"/v1/jobs/{first['job_id']}").status_code == 200
            assert [j["job_id"] for j in bob.get("/v1/jobs").json()["jobs"]] == [first["job_id"]]
            assert_error_shape(bob.delete(f"/v1/jobs/{first['job_id']}"), 403, "forbidden")
            assert_error_shape(carol.get(f"/v1/jobs/{first['job_id']}"), 404)
            assert carol.get("/v1/jobs").json() == {"jobs": []}
            with bob.stream("GET", f"/v1/jobs/{first['job_id']}/events") as stream:
                assert sse_events(stream.read().decode())[-1]["data"]["status"] == "completed"
            late = carol.post("/v1/models/download", json=body("shared", "org/tiny-llama"))
            assert late.status_code == 200 and late.json()["job_id"] == first["job_id"]
            assert carol.get(f"/v1/jobs/{first['job_id']}").json()["status"] == "completed"
            assert alice.get(f"/v1/jobs/{first['job_id']}").json()["status"] == "completed"


def test_cancel_mid_file_leaves_no_partial_files(gateway: Gateway, admin: httpx.Client, slow: FakeHub) -> None:
    slow.bytes_per_second = 200_000
    slow.reset_stats()
    job = admin.post("/v1/models/download", json=body("cancelled", "org/big-llama")).json()
    eventually(lambda: _assert(admin.get(f"/v1/jobs/{job['job_id']}").json()["bytes_done"] > 0))
    folder = gateway.data_dir / "models" / "cancelled"
    assert files_under(folder) == ["model.gguf.part"]
    response = admin.delete(f"/v1/jobs/{job['job_id']}")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"  # the worker confirmed (latency: bench/downloads.py)
    assert slow.bytes_served_by_path["model.gguf"] < len(BIG)
    assert not folder.exists()
    assert wait_job(admin, job["job_id"], "cancelled")["error"]["code"] == "cancelled"
    with admin.stream("GET", f"/v1/jobs/{job['job_id']}/events") as stream:
        assert sse_events(stream.read().decode())[-1]["data"]["code"] == "cancelled"
    assert "local:cancelled" not in [m["id"] for m in admin.get("/v1/models").json()["models"]]
    assert admin.delete(f"/v1/jobs/{job['job_id']}").json()["status"] == "cancelled"  # idempotent


def _assert(condition: bool) -> None:
    assert condition


def test_clear_errors_and_no_files_left(gateway: Gateway, admin: httpx.Client, user: httpx.Client,
                                        hub: FakeHub) -> None:
    models = gateway.data_dir / "models"
    assert_error_shape(admin.post("/v1/models/download", json=body("ghost", "org/does-not-exist")), 404,
                       "repo_not_found")
    error = assert_error_shape(admin.post("/v1/models/download",
                                          json=body("ghost", "org/tiny-llama", revision="v9")), 422)
    assert error["code"] == "revision_not_found" and error["param"] == "revision"
    assert_error_shape(admin.post("/v1/models/download", json=body("ghost", "org/tiny-llama",
                                                                   allow_patterns=["*.onnx"])), 422,
                       "no_matching_files")
    assert_error_shape(admin.post("/v1/models/download", json=body("../up", "org/tiny-llama")), 422)
    assert_error_shape(admin.post("/v1/models/download", json={"model": {"id": "x"}}), 422)
    assert not (models / "ghost").exists()

    hub.add_repo("org/huge", files={"model.gguf": b"tiny really"}, advertise={"model.gguf": {"size": 10**15}})
    response = admin.post("/v1/models/download", json=body("huge", "org/huge"))
    assert response.status_code == 202, response.text
    job = wait_job(admin, response.json()["job_id"], "failed")
    assert job["error"]["code"] == "insufficient_storage" and "disk space" in job["error"]["message"]
    assert not (models / "huge").exists()

    assert_error_shape(user.post("/v1/models/download", json=body("mine", "org/tiny-llama")), 403, "forbidden")
    assert_error_shape(user.get(f"/v1/jobs/{job['job_id']}"), 404)
    assert_error_shape(user.delete(f"/v1/jobs/{job['job_id']}"), 404)
    assert user.get("/v1/jobs").json() == {"jobs": []}


def test_an_admin_removes_a_downloaded_model(gateway: Gateway, admin: httpx.Client, user: httpx.Client) -> None:
    def listed() -> list[str]:
        return [m["id"] for m in admin.get("/v1/models").json()["models"]]

    first = admin.post("/v1/models/download", json=body("doomed", "org/llama-0")).json()
    wait_job(admin, first["job_id"], "completed")
    folder = gateway.data_dir / "models" / "doomed"
    assert files_under(folder) == ["a.gguf"] and "local:doomed" in listed()

    assert_error_shape(user.delete("/v1/models/local:doomed"), 403, "forbidden")
    response = admin.delete("/v1/models/local:doomed")
    assert response.status_code == 200 and response.json() == {"id": "local:doomed", "deleted": True}
    assert "local:doomed" not in listed()
    eventually(lambda: _assert(not folder.exists()))  # the download worker deletes the files
    assert_error_shape(admin.delete("/v1/models/doomed"), 404)
    assert_error_shape(admin.delete("/v1/models/openai:gpt-4o"), 422)
    assert_error_shape(admin.post("/v1/generate", json={"model": "local:doomed", "input": {"prompt": "hi"}}), 404)

    again = admin.post("/v1/models/download", json=body("doomed", "org/llama-0"))
    assert again.status_code == 202 and again.json()["job_id"] != first["job_id"]
    wait_job(admin, again.json()["job_id"], "completed")
    assert files_under(folder) == ["a.gguf"] and "local:doomed" in listed()


def test_killed_gateway_resumes_the_download(tmp_path: Path, hub: FakeHub) -> None:
    data = tmp_path / "data"
    env = {"LLM_API_HF_ENDPOINT": hub.url}
    hub.bytes_per_second = 400_000
    try:
        with embedded_gateway(data, **env) as first:
            key = first.user("admin", admin=True)["api_key"]
            with first.client(key) as client:
                job = client.post("/v1/models/download", json=body("resumed", "org/big-llama")).json()
                eventually(lambda: _assert(client.get(f"/v1/jobs/{job['job_id']}").json()["bytes_done"]
                                           >= len(BIG) // 5))
            serve = first.processes["serve"].proc
            os.killpg(serve.pid, signal.SIGKILL)  # the whole process group: Sanic serves from a child process
            serve.wait()
        part = data / "models" / "resumed" / "model.gguf.part"
        kept = part.stat().st_size
        assert 0 < kept < len(BIG)
        hub.reset_stats()
        with embedded_gateway(data, **env) as second, second.client(key) as client:
            final = wait_job(client, job["job_id"], "completed", timeout=60)
            assert final["bytes_done"] == len(BIG)
            assert sha256((data / "models" / "resumed" / "model.gguf").read_bytes()) == sha256(BIG)
            assert ("model.gguf", f"bytes={kept}-") in hub.range_requests
            assert hub.bytes_served < len(BIG)  # the kept bytes were not fetched again
            assert "local:resumed" in [m["id"] for m in client.get("/v1/models").json()["models"]]
    finally:
        hub.bytes_per_second = None


def test_a_downloaded_gguf_generates_text(admin: httpx.Client, hub: FakeHub) -> None:
    from tests.models import builders

    gguf = builders.cached(builders.build_tiny_gguf, builders.default_cache_dir())
    hub.add_repo("org/tiny-real", files={"tiny-llama.gguf": gguf.read_bytes()}, library="gguf")
    response = admin.post("/v1/models/download", json=body("tiny-real", "org/tiny-real"))
    wait_job(admin, response.json()["job_id"], "completed")
    answer = admin.post("/v1/generate", json={"model": "local:tiny-real", "input": {"prompt": "hello"},
                                              "parameters": {"max_tokens": 8, "seed": 1}})
    assert answer.status_code == 200, answer.text
    assert answer.json()["model"] == "local:tiny-real" and answer.json()["output"]["text"]
