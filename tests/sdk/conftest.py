"""The Python SDK against one real ``pluggably serve`` (embedded) per test session, backed by the OpenAI fake.

No mocked transport anywhere: the SDK speaks HTTP to the gateway, to a cutting TCP proxy in front of it, or to a
small scripted HTTP server of the test's own.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

try:
    import llm_api_client  # noqa: F401  (installed: pip install -e clients/python)
except ImportError:  # not installed: use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "clients" / "python"))

from llm_api_client import AsyncPluggablyClient, PluggablyClient  # noqa: E402
from tests.fakes.hf_hub import FakeHub  # noqa: E402
from tests.fakes.openai_fake import OpenAIFake  # noqa: E402
from tests.support.processes import Gateway, embedded_gateway  # noqa: E402

MODEL = "openai:gpt-4o-mini"
IMAGE_MODEL = "openai:gpt-image-1"
INLINE_MAX_BYTES = 2000  # small images come inline, bigger ones as artifacts


def build_short_answer_gguf(dest: str | Path, *, seed: int = 0) -> Path:
    """The tiny GGUF of ``tests.models.builders``, changed so that it ends its answers by itself after a few tokens.

    The brief's examples set no ``max_tokens``, and the plain tiny model never samples its end token, so each of
    them would generate until the context is full (~20 s). Here every token embedding carries a constant +5 in
    dimension 0, and only the end token's output row reads that dimension: its logit is about as high as the best
    word's, so answers end after 0-50 tokens (median ~5).
    """
    import gguf

    from tests.models.builders import build_tiny_gguf

    path = build_tiny_gguf(dest, seed=seed)
    reader = gguf.GGUFReader(path, mode="r+")
    tensors = {t.name: t.data for t in reader.tensors}
    tensors["token_embd.weight"][:, 0] = 5.0
    output = tensors["output.weight"]
    output[:, 0] = 0.0
    output[2, :] = 0.0  # 2 is </s>, the end token
    output[2, 0] = 2.0
    reader.data.flush()
    return path


def tiny_text_model() -> Path:
    """A tiny GGUF for the gateway's default local text model (the brief's examples name no model)."""
    from tests.models.builders import cached

    return cached(build_short_answer_gguf, "/tmp/pluggably-models")


@pytest.fixture(scope="session")
def openai_fake() -> Iterator[OpenAIFake]:
    with OpenAIFake(api_key="sk-test") as fake:
        yield fake


HUB_REPOS = {
    "sdk-org/tiny-llama-gguf": {"model.gguf": b"GGUF" + bytes(4000), "config.json": b"{}"},
    "sdk-org/llama-two": {"model.gguf": b"GGUF" + bytes(100)},
    "sdk-org/llama-three": {"model.gguf": b"GGUF" + bytes(100)},
    "TheBloke/Mistral-7B-v0.1-GGUF": {"mistral-7b-v0.1.Q2_K.gguf": b"GGUF" + bytes(2000), "README.md": b"hi"},
}


@pytest.fixture(scope="session")
def hub() -> Iterator[FakeHub]:
    with FakeHub(page_size=2) as fake:
        for repo_id, files in HUB_REPOS.items():
            fake.add_repo(repo_id, files=files, pipeline_tag="text-generation", library="gguf")
        yield fake


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory, openai_fake: OpenAIFake, hub: FakeHub) -> Iterator[Gateway]:
    env = {"LLM_API_OPENAI_BASE_URL": openai_fake.base_url, "LLM_API_OPENAI_API_KEY": "sk-test",
           "LLM_API_PROVIDER_MAX_RETRIES": "0", "LLM_API_INLINE_MAX_BYTES": str(INLINE_MAX_BYTES),
           "LLM_API_HF_ENDPOINT": hub.url, "LLM_API_ALLOW_USER_DOWNLOADS": "true"}
    env["LLM_API_LOCAL_TEXT_MODEL_PATH"] = str(tiny_text_model())
    with embedded_gateway(tmp_path_factory.mktemp("sdk") / "data", **env) as gw:
        yield gw


@pytest.fixture(scope="session")
def account(gateway: Gateway) -> dict[str, str]:
    return gateway.user("sdk-user")


@pytest.fixture(scope="session")
def api_key(account: dict[str, str]) -> str:
    return account["api_key"]


@pytest.fixture(scope="session")
def admin_key(gateway: Gateway) -> str:
    return gateway.user("sdk-admin", admin=True)["api_key"]


@pytest.fixture(autouse=True)
def _clean_fake(openai_fake: OpenAIFake) -> Iterator[None]:
    openai_fake.reset()
    yield
    openai_fake.reset()


@pytest.fixture
def client(gateway: Gateway, api_key: str) -> Iterator[PluggablyClient]:
    with PluggablyClient(gateway.url, api_key, timeout=30, max_retries=2) as c:
        yield c


@pytest.fixture
async def aclient(gateway: Gateway, api_key: str) -> Any:
    async with AsyncPluggablyClient(gateway.url, api_key, timeout=30, max_retries=2) as c:
        yield c


# -- a TCP proxy that can break a connection in the middle of an answer ------------------------------------------


class CuttingProxy:
    """A real TCP proxy to ``upstream``; ``cut_next(n)`` drops the next accepted connection after ``n`` bytes of
    the server's answer have been passed on (both sockets closed, like a network failure)."""

    def __init__(self, upstream: str) -> None:
        url = httpx.URL(upstream)
        self.upstream = (url.host, url.port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.cuts: deque[int] = deque()
        self.connections = 0
        self.cut_done = 0
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_next(self, after_bytes: int) -> None:
        self.cuts.append(after_bytes)

    def close(self) -> None:
        self._closed = True
        self.listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            cut = self.cuts.popleft() if self.cuts else None
            upstream = socket.create_connection(self.upstream)
            threading.Thread(target=self._pump, args=(downstream, upstream, None), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, downstream, cut), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, cut: int | None) -> None:
        passed = 0
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if cut is not None and passed + len(data) >= cut:
                    sink.sendall(data[:cut - passed])
                    self.cut_done += 1
                    break
                sink.sendall(data)
                passed += len(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()


@pytest.fixture
def proxy(gateway: Gateway) -> Iterator[CuttingProxy]:
    p = CuttingProxy(gateway.url)
    yield p
    p.close()


# -- a scripted HTTP server (for Retry-After timing and timeouts) ------------------------------------------------


class ScriptedServer:
    """A real HTTP server answering from a script: ``answer(status, body, headers, delay)`` queues one answer;
    with the script empty it answers 200 ``{}``. ``times``, ``paths`` and ``bodies`` record the requests."""

    def __init__(self) -> None:
        self.script: deque[tuple[int, Any, dict[str, str], float]] = deque()
        self.times: list[float] = []
        self.paths: list[str] = []
        self.bodies: list[Any] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                owner.times.append(time.monotonic())
                owner.paths.append(self.path)
                length = int(self.headers.get("content-length") or 0)
                owner.bodies.append(json.loads(self.rfile.read(length)) if length else None)
                status, body, headers, delay = owner.script.popleft() if owner.script else (200, {}, {}, 0.0)
                if delay:
                    time.sleep(delay)
                payload = b"" if status == 204 else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass

            do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, status: int, body: Any, headers: dict[str, str] | None = None, delay: float = 0.0) -> None:
        self.script.append((status, body, headers or {}, delay))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted() -> Iterator[ScriptedServer]:
    server = ScriptedServer()
    yield server
    server.close()
