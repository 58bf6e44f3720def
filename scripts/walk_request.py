"""Walk one ``POST /v1/generate`` through the code and count where it goes.

Serves an embedded gateway in this process (a temporary data dir, the in-process bus, the OpenAI fake of
``tests/fakes`` as the upstream), sends one generation, and records the project files that the request's own task
runs through, in order (the worker that answers it runs in another task and is not counted). A *stop* is a stay in
one file (consecutive calls inside it are one stop); a *return* is a stop in a file the request had left before.

    .venv/bin/python scripts/walk_request.py [--show] [--repo DIR]

Prints one JSON line: ``{"stops", "files", "returns"}`` (and the route with ``--show``). ``--repo`` walks another
checkout of the project (an older commit, say, in a ``git worktree``), with this one's fake upstream.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]
ROOT = HERE
sys.path.insert(0, str(HERE))

from tests.fakes.openai_fake import OpenAIFake  # noqa: E402


def ours(filename: str) -> str | None:
    path = Path(filename)
    skip = (ROOT / ".venv", ROOT / "tests", ROOT / "scripts", HERE / "tests")
    if not path.is_absolute() or not path.is_relative_to(ROOT) or any(path.is_relative_to(s) for s in skip):
        return None
    return path.relative_to(ROOT).as_posix()


class Walk:
    """A profile hook that records the files of the marked task's calls."""

    def __init__(self) -> None:
        self.task: asyncio.Task[Any] | None = None
        self.route: list[str] = []

    def __call__(self, frame: Any, event: str, arg: Any) -> None:
        if event != "call" or self.task is None:
            return
        try:
            if asyncio.current_task() is not self.task:
                return
        except RuntimeError:  # no running loop in this thread
            return
        name = ours(frame.f_code.co_filename)
        if name is not None and (not self.route or self.route[-1] != name):
            self.route.append(name)

    def figures(self) -> dict[str, int]:
        seen: set[str] = set()
        returns = 0
        for name in self.route:
            returns += name in seen
            seen.add(name)
        return {"stops": len(self.route), "files": len(seen), "returns": returns}


async def walk(show: bool) -> dict[str, Any]:
    import httpx
    from sanic import Request, Sanic

    from api.app import create_app
    from infra.settings import Settings

    walker = Walk()
    with OpenAIFake(api_key="sk-walk") as fake, tempfile.TemporaryDirectory() as tmp:
        import os

        os.environ.update({"LLM_API_OPENAI_BASE_URL": fake.base_url, "LLM_API_OPENAI_API_KEY": "sk-walk"})
        settings = Settings(_env_file=None, data_dir=Path(tmp), database_url=None, nats_url=None,
                            log_level="WARNING")
        container = _built(settings)
        _, _, api_key = container.app.register_user("walker", "a-long-password")

        def mark(app: Sanic) -> None:
            async def begin(request: Request) -> None:
                if request.path == "/v1/generate":
                    walker.task = asyncio.current_task()
                    sys.setprofile(walker)

            app.register_middleware(begin, "request", priority=1000)  # before everything else

        app = create_app(container, name="walk", configure=mark)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
        assert server is not None
        await server.startup()
        await server.before_start()
        await server.after_start()
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": api_key}) as client:
                body = {"model": "openai:gpt-4o-mini", "input": {"prompt": "walk with me"}}
                await client.post("/v1/generate", json=body)  # warm: the first call loads what it needs
                walker.route.clear()
                answer = await client.post("/v1/generate", json=body)
                sys.setprofile(None)
                assert answer.status_code == 200, answer.text
        finally:
            sys.setprofile(None)
            await server.before_stop()
            await server.close()
            await server.after_stop()
    result: dict[str, Any] = walker.figures()
    if show:
        result["route"] = walker.route
    return result


def _built(settings: Any) -> Any:
    """The embedded graph, migrated (also as checkouts from before ``api.bootstrap.build`` made it)."""
    import api.bootstrap as bootstrap

    if hasattr(bootstrap, "build"):
        container = bootstrap.build(settings, bootstrap.EVERY_ROLE)
        bootstrap.migrate(container)
        return container
    bootstrap.migrate(settings)
    return bootstrap.Container(settings, roles={"api", "worker", "projector"})


def main() -> None:
    global ROOT
    parser = argparse.ArgumentParser()
    parser.add_argument("--show", action="store_true", help="print the files in the order they were entered")
    parser.add_argument("--repo", type=Path, help="the checkout to walk (default: this one)")
    args = parser.parse_args()
    if args.repo is not None:
        ROOT = args.repo.resolve()
        sys.path.insert(0, str(ROOT))
    print(json.dumps(asyncio.run(walk(args.show))))


if __name__ == "__main__":
    main()
