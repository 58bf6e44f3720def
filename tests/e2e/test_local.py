"""Local runtimes through the HTTP API of a real `pluggably serve`, on tiny models built at test time."""

from __future__ import annotations

import base64
import io
import re
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.behaviour import assert_error_shape, eventually, png_size, sse_events
from tests.models import builders
from tests.support.processes import Gateway, cli, embedded_gateway


def build(builder: Any, **kwargs: Any) -> Path:
    return builders.cached(builder, builders.default_cache_dir(), **kwargs)


@pytest.fixture(scope="module")
def models() -> dict[str, Path]:
    return {"text": build(builders.build_tiny_gguf), "image": build(builders.build_tiny_sd_pipeline),
            "3d": build(builders.build_tiny_shap_e_pipeline), "bpe": build(builders.build_tiny_bpe_gguf)}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, models: dict[str, Path]) -> Iterator[Gateway]:
    with embedded_gateway(tmp_path_factory.mktemp("local") / "data",
                          LLM_API_LOCAL_TEXT_MODEL_PATH=str(models["text"]),
                          LLM_API_LOCAL_IMAGE_MODEL_ID=str(models["image"]),
                          LLM_API_LOCAL_3D_MODEL_ID=str(models["3d"]),
                          LLM_API_INLINE_MAX_BYTES="20000", LLM_API_LOCAL_MEMORY_BUDGET_MB="1") as gateway:
        yield gateway


@pytest.fixture(scope="module")
def client(gateway: Gateway) -> Iterator[httpx.Client]:
    with gateway.client(gateway.user("lou")["api_key"]) as client:
        client.timeout = 120
        yield client


def text_model(models: dict[str, Path]) -> str:
    return "local:" + models["text"].stem


def test_catalogue_lists_the_local_defaults(client: httpx.Client, models: dict[str, Path]) -> None:
    listed = client.get("/v1/models", params={"modality": "text"}).json()["models"]
    assert text_model(models) in [m["id"] for m in listed]
    assert all(m["modality"] == "text" for m in listed)
    assert {m["id"] for m in client.get("/v1/models", params={"modality": "3d"}).json()["models"]} == {
        "local:" + models["3d"].name}


def test_configured_models_are_registered_as_catalog_events(gateway: Gateway, models: dict[str, Path]) -> None:
    stored = cli(["models", "list", "--json"], gateway.env)  # the CLI reads the event store, not the server
    for expected in (text_model(models), "local:" + models["image"].name, "local:" + models["3d"].name):
        assert expected in stored


def test_default_text_model_when_model_is_omitted(client: httpx.Client, models: dict[str, Path]) -> None:
    body = client.post("/v1/generate", json={"modality": "text", "input": {"prompt": "hello"},
                                             "parameters": {"max_tokens": 8, "seed": 3}}).json()
    assert body["model"] == text_model(models)
    assert body["output"]["text"] and body["usage"]["output_tokens"] > 0 and body["usage"]["input_tokens"] > 0


@pytest.mark.parametrize(("runtime", "max_tokens"), [("llamacpp", 12), ("ctransformers", 12)])
def test_streamed_text_and_same_seed_same_text(client: httpx.Client, models: dict[str, Path], runtime: str,
                                               max_tokens: int) -> None:
    model = f"{runtime}:{models['text'].stem}"
    request = {"model": model, "input": {"prompt": "the"}, "parameters": {"max_tokens": max_tokens, "seed": 7},
               "stream": True}
    texts = []
    for _ in range(2):
        with client.stream("POST", "/v1/generate", json=request) as response:
            events = sse_events(response.read().decode())
        assert events[-1]["event"] == "done", events[-1]
        tokens = [e["data"]["text"] for e in events if e["event"] == "token"]
        assert tokens and events[0]["event"] == "token"  # chunks waiting together may share one event
        assert "".join(tokens) == events[-1]["data"]["output"]["text"]
        texts.append(events[-1]["data"]["output"]["text"])
    assert texts[0] == texts[1]


def test_image_png_of_the_requested_size_same_seed_same_bytes(client: httpx.Client) -> None:
    request = {"modality": "image", "input": {"prompt": "a red cube"},
               "parameters": {"width": 32, "height": 48, "steps": 2, "seed": 11}}
    first = client.post("/v1/generate", json=request)
    assert first.status_code == 200, first.text
    image = base64.b64decode(first.json()["output"]["images"][0])
    assert png_size(image) == (32, 48)
    again = base64.b64decode(client.post("/v1/generate", json=request).json()["output"]["images"][0])
    assert again == image


def test_parameters_beyond_the_runtimes_limits_are_refused_before_anything_is_stored(
        gateway: Gateway, client: httpx.Client) -> None:
    def stored() -> int:
        with sqlite3.connect(gateway.data_dir / "events.sqlite3") as conn:
            return conn.execute("SELECT count(*) FROM stored_events").fetchone()[0]

    before = stored()
    error = assert_error_shape(client.post("/v1/generate", json={
        "modality": "image", "input": {"prompt": "huge"}, "parameters": {"width": 4000, "height": 64}}), 422)
    assert "width" in error["message"]
    assert stored() == before


def test_large_image_is_an_owner_only_artifact(gateway: Gateway, client: httpx.Client) -> None:
    body = client.post("/v1/generate", json={"modality": "image", "input": {"prompt": "noise"},
                                             "parameters": {"width": 256, "height": 256, "steps": 2}}).json()
    assert "images" not in body["output"], "a 256x256 random image is larger than LLM_API_INLINE_MAX_BYTES"
    artifact = body["output"]["artifacts"][0]
    data = client.get(artifact["url"]).content
    assert png_size(data) == (256, 256) and len(data) == artifact["size_bytes"]
    with gateway.client(gateway.user("stranger")["api_key"]) as other:
        assert_error_shape(other.get(artifact["url"]), 404)


def test_mesh_is_a_glb_artifact_that_trimesh_loads(client: httpx.Client) -> None:
    import trimesh

    response = client.post("/v1/generate", json={"modality": "3d", "input": {"prompt": "a chair"},
                                                 "parameters": {"steps": 2, "seed": 1}})
    assert response.status_code == 200, response.text
    artifact = response.json()["output"]["artifacts"][0]
    assert artifact["mime_type"] == "model/gltf-binary"
    mesh = trimesh.load(io.BytesIO(client.get(artifact["url"]).content), file_type="glb", force="mesh")
    assert len(mesh.faces) > 0


def test_eviction_under_a_small_memory_budget(gateway: Gateway, client: httpx.Client, models: dict) -> None:
    def counter(name: str) -> float:
        found = re.search(rf"^{name}_total (\S+)$", httpx.get(gateway.url + "/metrics").text, re.M)
        return float(found.group(1)) if found else 0.0

    before = counter("llm_api_local_model_evictions")
    assert client.post("/v1/generate", json={"model": text_model(models), "input": {"prompt": "a"},
                                             "parameters": {"max_tokens": 2}}).status_code == 200
    assert client.post("/v1/generate", json={"modality": "image", "input": {"prompt": "b"},
                                             "parameters": {"width": 16, "height": 16, "steps": 1}}).status_code == 200
    assert counter("llm_api_local_model_evictions") > before


def test_cancel_a_running_local_generation(client: httpx.Client, models: dict[str, Path]) -> None:
    events: list[dict] = []
    ids: list[str] = []

    def run() -> None:
        with client.stream("POST", "/v1/generate", json={"model": text_model(models), "input": {"prompt": "go"},
                                                          "parameters": {"max_tokens": 4000},
                                                          "stream": True}) as response:
            ids.append(response.headers["X-Generation-ID"])
            events.extend(sse_events(response.read().decode()))

    thread = threading.Thread(target=run)
    thread.start()
    eventually(lambda: ids or (_ for _ in ()).throw(AssertionError("no stream yet")))
    import time

    time.sleep(0.5)
    assert client.delete(f"/v1/generations/{ids[0]}").json()["status"] == "cancelled"
    thread.join(30)
    assert not thread.is_alive()
    assert events[-1]["event"] == "error" and events[-1]["data"]["code"] == "cancelled"
    assert sum(e["event"] == "token" for e in events) < 4000


def test_missing_model_file_is_a_clear_error(tmp_path_factory: pytest.TempPathFactory) -> None:
    missing = "/nonexistent/models/ghost.gguf"
    with embedded_gateway(tmp_path_factory.mktemp("missing") / "data", LLM_API_LOCAL_TEXT_MODEL_PATH=missing) as gw:
        with gw.client(gw.user("m")["api_key"]) as client:
            error = assert_error_shape(client.post("/v1/generate", json={"input": {"prompt": "x"}}))
            assert "ghost.gguf" in error["message"]
            status = client.get(f"/v1/generations/{error['request_id']}").json()
            assert status["status"] == "failed"


def test_ctransformers_crash_is_a_failed_generation_and_the_worker_lives_on(
        tmp_path_factory: pytest.TempPathFactory, models: dict[str, Path]) -> None:
    with embedded_gateway(tmp_path_factory.mktemp("crash") / "data",
                          LLM_API_LOCAL_TEXT_MODEL_PATH=str(models["bpe"])) as gw:
        with gw.client(gw.user("c")["api_key"]) as client:
            crash = {"model": f"ctransformers:{models['bpe'].stem}", "input": {"prompt": "boom"}}
            error = assert_error_shape(client.post("/v1/generate", json=crash), 500)
            assert error["code"] == "runtime_failed" and "crashed" in error["message"]
            fine = client.post("/v1/generate", json={"input": {"prompt": "still here"},
                                                     "parameters": {"max_tokens": 3}})
            assert fine.status_code == 200, fine.text
            assert_error_shape(client.post("/v1/generate", json=crash), 500)
            assert gw.processes["serve"].proc.poll() is None
