"""The gateway the TypeScript tests talk to: a real ``pluggably serve`` (embedded) wired to the OpenAI fake and a
fake Hugging Face hub, optionally with the tiny local models (text, image, mesh), and an admin who signs in with a
password.

pytest starts it in-process (:func:`web_stack`) and hands it to vitest as ``PLUGGABLY_STACK`` (one JSON object);
run alone, ``python -m tests.support.webstack [--local-models]`` prints that JSON as its first line and serves
until it is stopped (SIGTERM, or its standard input closing).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.fakes.hf_hub import FakeHub
from tests.fakes.openai_fake import OpenAIFake
from tests.models import builders
from tests.support.processes import create_user, embedded_gateway

ADMIN = {"username": "admin", "password": "admin-password-1"}
OPENAI_KEY = "sk-test"
#: A model for the download page: big enough, on a throttled hub, to show its progress for a few seconds.
SLOW_REPO = ("plugai-org/slow-llama-gguf", 3_000_000)
HUB_REPOS = {
    "plugai-org/tiny-llama-gguf": {"model.gguf": b"GGUF" + bytes(4000)},
    "plugai-org/tiny-llama-two": {"model.gguf": b"GGUF" + bytes(100)},
    "plugai-org/tiny-llama-three": {"model.gguf": b"GGUF" + bytes(100)},
    # enough of them for more than one page of results in the app (10 a page)
    **{f"plugai-org/tiny-llama-{n:02d}": {"model.gguf": b"GGUF" + bytes(50)} for n in range(1, 13)},
}


def local_models() -> dict[str, str]:
    """The gateway's default local models: the tiny ones the test fixtures build (cached per machine)."""
    from tests.sdk.conftest import tiny_text_model

    cache = builders.default_cache_dir()
    return {"LLM_API_LOCAL_TEXT_MODEL_PATH": str(tiny_text_model()),
            "LLM_API_LOCAL_IMAGE_MODEL_ID": str(builders.cached(builders.build_tiny_sd_pipeline, cache)),
            "LLM_API_LOCAL_3D_MODEL_ID": str(builders.cached(builders.build_tiny_shap_e_pipeline, cache))}


@contextmanager
def web_stack(workdir: Path, *, with_local_models: bool = False) -> Iterator[dict[str, Any]]:
    with OpenAIFake(api_key=OPENAI_KEY) as openai, FakeHub(page_size=2, bytes_per_second=400_000) as hub:
        for repo_id, files in HUB_REPOS.items():
            hub.add_repo(repo_id, files=files, pipeline_tag="text-generation", library="gguf", downloads=10)
        hub.add_repo(SLOW_REPO[0], files={"model.gguf": b"GGUF" + bytes(SLOW_REPO[1])},
                     pipeline_tag="text-generation", library="gguf", downloads=5)
        env = {"LLM_API_OPENAI_BASE_URL": openai.base_url, "LLM_API_OPENAI_API_KEY": OPENAI_KEY,
               "LLM_API_PROVIDER_MAX_RETRIES": "0", "LLM_API_HF_ENDPOINT": hub.url,
               "LLM_API_INLINE_MAX_BYTES": "2000", "LLM_API_REQUEST_TIMEOUT_S": "120"}
        if with_local_models:
            env.update(local_models())
        with embedded_gateway(workdir / "data", **env) as gateway:
            admin = create_user(gateway.env, ADMIN["username"], password=ADMIN["password"], admin=True)
            yield {"url": gateway.url, "openai": openai.root_url, "hub": hub.url, "data_dir": str(gateway.data_dir),
                   "admin": {**ADMIN, "api_key": admin["api_key"], "user_id": admin["user_id"]},
                   "slow_repo": SLOW_REPO[0], "log": str(gateway.processes["serve"].log)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--local-models", action="store_true", help="also the tiny local text, image, 3D models")
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="plugai-stack-") as tmp, \
            web_stack(Path(tmp), with_local_models=args.local_models) as stack:
        print(json.dumps(stack), flush=True)
        stop.wait()


if __name__ == "__main__":
    main(sys.argv[1:])
