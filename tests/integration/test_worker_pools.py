"""Worker pools: `pluggably worker --runtimes X` takes only X's work; other work waits in its queue for its pool."""

from __future__ import annotations

from typing import Any

from tests.e2e.behaviour import MODEL, assert_error_shape, eventually
from tests.support.processes import production_gateway, spawn


def test_a_worker_serves_only_its_runtimes(tmp_path: Any, pg_url: str, nats_url: str, run_id: str,
                                           openai_fake: Any) -> None:
    with production_gateway(tmp_path / "data", pg_url, nats_url, prefix=f"plg{run_id}w", schema=f"pools_{run_id}",
                            LLM_API_OPENAI_BASE_URL=openai_fake.base_url, LLM_API_OPENAI_API_KEY="sk-test",
                            LLM_API_REQUEST_TIMEOUT_S="3") as gateway:
        gateway.processes["worker"].stop()
        gateway.processes["worker"] = spawn(["worker", "--runtimes", "anthropic,llamacpp"], gateway.env,
                                            tmp_path / "worker-other.log")
        user = gateway.user("pool-user")
        with gateway.client(user["api_key"]) as client:
            error = assert_error_shape(client.post("/v1/generate", json={"model": MODEL, "input": {"prompt": "wait"}}),
                                       504, "timeout")
            gid = error["request_id"]
            assert client.get(f"/v1/generations/{gid}").json()["status"] == "queued"
            gateway.processes["openai-worker"] = spawn(["worker", "--runtimes", "openai"], gateway.env,
                                                       tmp_path / "worker-openai.log")

            def done() -> None:
                status = client.get(f"/v1/generations/{gid}").json()
                assert status["status"] == "completed", status
                assert status["output"]["text"] == "Echo: wait"

            eventually(done, timeout=30)


def test_worker_metrics_and_deployment_gauges(tmp_path: Any, pg_url: str, nats_url: str, run_id: str,
                                              openai_fake: Any) -> None:
    import re

    import httpx

    from tests.support.processes import free_port

    port = free_port()
    with production_gateway(tmp_path / "data", pg_url, nats_url, prefix=f"plg{run_id}x", schema=f"gauges_{run_id}",
                            LLM_API_OPENAI_BASE_URL=openai_fake.base_url, LLM_API_OPENAI_API_KEY="sk-test") as gateway:
        gateway.processes["worker"].stop()
        gateway.processes["worker"] = spawn(["worker", "--metrics-port", str(port)], gateway.env,
                                            tmp_path / "worker-metrics.log")
        with gateway.client(gateway.user("metered")["api_key"]) as client:
            eventually(lambda: assert_ok(client.post("/v1/generate", json={"model": MODEL,
                                                                           "input": {"prompt": "count"}})))
        worker_metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        completed = re.search(r'llm_api_generations_total\{model="openai:gpt-4o-mini",status="completed"\} (\S+)',
                              worker_metrics)
        assert completed and float(completed.group(1)) >= 1
        assert "llm_api_time_to_first_token_ms_bucket" in worker_metrics
        api_metrics = httpx.get(gateway.url + "/metrics").text
        assert re.search(r'llm_api_work_queue_depth\{queue="generate_openai"\} 0\.0', api_metrics), api_metrics[:500]
        assert re.search(r"llm_api_projection_lag \d", api_metrics)


def assert_ok(response: Any) -> None:
    assert response.status_code == 200, response.text
