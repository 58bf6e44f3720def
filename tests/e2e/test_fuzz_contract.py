"""Schemathesis against a real embedded gateway: thousands of generated requests from docs/contracts/openapi.yaml
(valid, invalid and malformed), none may be answered with a server error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.fakes.hf_hub import FakeHub
from tests.support.processes import ROOT, embedded_gateway


def test_no_generated_request_gets_a_server_error(tmp_path: Path, openai_fake: Any) -> None:
    with FakeHub() as hub:
        hub.add_repo("org/tiny", files={"model.gguf": b"x" * 1000}, pipeline_tag="text-generation")
        with embedded_gateway(tmp_path / "data", LLM_API_OPENAI_BASE_URL=openai_fake.base_url,
                              LLM_API_OPENAI_API_KEY="sk-test", LLM_API_HF_ENDPOINT=hub.url,
                              LLM_API_REQUEST_TIMEOUT_S="5") as gateway:
            key = gateway.user("fuzzer", admin=True)["api_key"]
            result = subprocess.run(
                [sys.executable, "-m", "schemathesis.cli", "run", "docs/contracts/openapi.yaml", "-u", gateway.url,
                 "-H", f"X-API-Key: {key}", "-c", "not_a_server_error", "--max-examples", "20",
                 "--request-timeout", "20", "--exclude-path-regex", "/events$",
                 # signing out would revoke the fuzzer's own key, and every later request would be a 401
                 "--exclude-path", "/v1/auth/logout", "--seed", "1"],
                cwd=ROOT, capture_output=True, text=True, timeout=600)
            assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
            assert " generated, " in result.stdout and " passed" in result.stdout
            assert "Traceback" not in gateway.processes["serve"].output()
