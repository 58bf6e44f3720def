"""`serve --workers 2` in production mode: requests spread over two API processes, /metrics counts them all."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.e2e.behaviour import MODEL
from tests.support.processes import base_env, cli, free_port, spawn, wait_ready


def test_metrics_are_right_with_several_api_workers(tmp_path: Any, pg_url: str, nats_url: str, run_id: str,
                                                     openai_fake: Any) -> None:
    port = free_port()
    env = base_env(tmp_path / "data", LLM_API_DATABASE_URL=pg_url, LLM_API_NATS_URL=nats_url,
                   LLM_API_NATS_PREFIX=f"plg{run_id}m", LLM_API_DATABASE_SCHEMA=f"multi_{run_id}",
                   LLM_API_PORT=str(port), LLM_API_OPENAI_BASE_URL=openai_fake.base_url,
                   LLM_API_OPENAI_API_KEY="sk-test")
    cli(["migrate"], env)
    processes = [spawn(["serve", "--workers", "2"], env, tmp_path / "serve.log"),
                 spawn(["worker"], env, tmp_path / "worker.log"), spawn(["project"], env, tmp_path / "project.log")]
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, processes[0])
        key = __import__("json").loads(cli(["users", "create", "--username", "m", "--password", "pw-123456789",
                                            "--json"], env))["api_key"]
        for _ in range(12):
            with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=30) as client:  # new connections
                response = client.post("/v1/generate", json={"model": MODEL, "input": {"prompt": "count me"}})
                assert response.status_code == 200, response.text
        text = httpx.get(url + "/metrics").text
        counts = re.findall(r'llm_api_request_count_total\{method="POST",route="v1/generate",status="200"\} (\S+)',
                            text)
        assert sum(float(c) for c in counts) == 12, text[:2000]
        writers = {p.name for p in (tmp_path / "data" / "prometheus").glob("counter_*.db")}
        assert len(writers) >= 2, writers  # the API really ran in two processes
    finally:
        for process in processes:
            process.stop()
