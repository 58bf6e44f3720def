"""An embedded gateway killed in the middle of a generation finishes it after a restart: its in-process bus (and
the work on it) died with it, so the start-up publishes again the work of every generation recorded as running."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from tests.e2e.behaviour import MODEL, eventually
from tests.support.processes import embedded_gateway


def test_a_generation_running_when_the_gateway_died_completes_after_a_restart(tmp_path: Path,
                                                                              openai_fake: Any) -> None:
    env = {"LLM_API_OPENAI_BASE_URL": openai_fake.base_url, "LLM_API_OPENAI_API_KEY": "sk-test"}
    data = tmp_path / "data"
    openai_fake.reset()
    openai_fake.script_delay(60, times=1)  # the upstream hangs: the generation is running when the gateway dies
    try:
        with embedded_gateway(data, **env) as first:
            key = first.user("rosa")["api_key"]
            with first.client(key) as client, client.stream("POST", "/v1/generate", json={
                    "model": MODEL, "input": {"prompt": "after the crash"}, "stream": True}) as response:
                gid = response.headers["X-Generation-ID"]
                eventually(lambda: _assert(client.get(f"/v1/generations/{gid}").json()["status"] == "running"))
                # ...and its upstream call is in flight: the view can say running a moment before the worker sends it
                eventually(lambda: _assert(len(openai_fake.api_requests("/chat/completions")) == 1))
                serve = first.processes["serve"].proc
                os.killpg(serve.pid, signal.SIGKILL)  # the whole group: Sanic serves from a child process
                serve.wait()
        with embedded_gateway(data, **env) as second, second.client(key) as client:
            def completed() -> dict:
                generation = client.get(f"/v1/generations/{gid}").json()
                assert generation["status"] == "completed", generation
                return generation

            generation = eventually(completed, timeout=60)
            assert generation["output"]["text"] == "Echo: after the crash" and generation["attempt"] == 2
    finally:
        openai_fake.reset()


def _assert(condition: bool) -> None:
    assert condition
