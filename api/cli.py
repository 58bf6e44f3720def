"""The ``pluggably`` command line: serve, worker, project, migrate, users, models."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import logging
import os
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

FLAG_ENV = {
    "data_dir": "LLM_API_DATA_DIR",
    "host": "LLM_API_HOST",
    "port": "LLM_API_PORT",
    "runtimes": "LLM_API_RUNTIMES",
}


def load_settings(args: argparse.Namespace) -> Any:
    """Flags win over the environment; they are written back to it so spawned server workers agree."""
    for flag, env in FLAG_ENV.items():
        value = getattr(args, flag, None)
        if value is not None:
            os.environ[env] = str(value)
    from infra.settings import Settings

    settings = Settings()
    os.environ["LLM_API_DATA_DIR"] = str(Path(settings.data_dir).resolve())
    return Settings()


def setup_logging(settings: Any) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(), stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def server_roles(settings: Any) -> set[str]:
    from api.bootstrap import API, EVERY_ROLE

    return set(EVERY_ROLE) if settings.embedded else {API}


def app_factory() -> Any:
    """Builds the Sanic app in each spawned server process (Sanic's worker manager calls this)."""
    from api.app import create_app
    from api.bootstrap import build
    from infra.settings import Settings

    settings = Settings()
    return create_app(build(settings, server_roles(settings)))


def serve(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    setup_logging(settings)
    metrics_dir = Path(settings.data_dir) / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    from api.app import create_app
    from api.bootstrap import build, migrate

    workers = args.workers
    if settings.embedded and workers > 1:
        logging.getLogger("pluggably").warning(
            "the embedded default runs one process; set LLM_API_NATS_URL and LLM_API_DATABASE_URL for --workers"
        )
        workers = 1
    if workers == 1:  # one process: the graph built once, migrated, served; no worker manager beside it
        container = build(settings, server_roles(settings))
        migrate(container)
        app = create_app(container)
        app.prepare(
            host=settings.host, port=settings.port, workers=1, single_process=True, access_log=False, motd=False
        )
        Sanic.serve_single(primary=app)
        return 0
    with opened_container(settings):  # this process only migrates: each spawned worker builds its own graph
        pass
    loader = AppLoader(factory=app_factory)
    app = loader.load()
    app.prepare(host=settings.host, port=settings.port, workers=workers, access_log=False, motd=False)
    Sanic.serve(primary=app, app_loader=loader)
    return 0


async def _run_until_signalled(container: Any) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await container.start()
    try:
        await stop.wait()
    finally:
        await container.stop()


def serve_metrics(args: argparse.Namespace, settings: Any) -> None:
    """A worker or projector process on its own serves its Prometheus metrics (generations, latency, TTFT...)."""
    if args.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(args.metrics_port, addr=settings.host)


def worker(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    setup_logging(settings)
    serve_metrics(args, settings)
    from api.bootstrap import WORKER, build

    runtimes = [r.strip() for r in (settings.runtimes or "").split(",") if r.strip()] or None
    container = build(settings, {WORKER}, runtimes=runtimes)
    served = container.registry.names() + (["download"] if container.serves_downloads else [])
    logging.getLogger("pluggably").info("worker serving %s", ", ".join(served))
    asyncio.run(_run_until_signalled(container))
    return 0


def project(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    setup_logging(settings)
    from api.bootstrap import PROJECTOR, build, migrate

    container = build(settings, {PROJECTOR})
    migrate(container)
    serve_metrics(args, settings)
    if args.rebuild:
        try:
            if args.rebuild not in container.projector.projections:
                print(
                    f"unknown projection {args.rebuild!r}; known: {', '.join(container.projector.projections)}",
                    file=sys.stderr,
                )
                return 2
            container.projector.rebuild(args.rebuild)
        finally:
            container.close()
        print(f"rebuilt {args.rebuild}")
        return 0
    asyncio.run(_run_until_signalled(container))
    return 0


def migrate_command(args: argparse.Namespace) -> int:
    with opened_container(load_settings(args)):
        pass
    print("migrated")
    return 0


def reports_gateway_errors(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A command that meets a ``GatewayError`` prints its message and exits 1."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        from domain.errors import GatewayError

        try:
            return command(args)
        except GatewayError as error:
            print(f"error: {error.message}", file=sys.stderr)
            return 1

    return run


@contextlib.contextmanager
def opened_container(settings: Any) -> Iterator[Any]:
    """The graph of a command of this process (``api.bootstrap.build``, tables created first), closed after."""
    from api.bootstrap import opened

    with opened(settings) as container:
        yield container


@contextlib.contextmanager
def opened_gateway(settings: Any) -> Iterator[Any]:
    """The write side of a command of this process."""
    with opened_container(settings) as container:
        yield container.app


@reports_gateway_errors
def users_create(args: argparse.Namespace) -> int:
    with opened_gateway(load_settings(args)) as app:
        user, key_id, plaintext = app.register_user(args.username, args.password, args.admin)
    if args.json:
        print(
            json.dumps(
                {
                    "user_id": str(user.id),
                    "username": user.username,
                    "api_key": plaintext,
                    "is_admin": user.is_admin,
                    "key_id": key_id,
                }
            )
        )
    else:
        print(f"created user {user.username} ({user.id}){' as admin' if user.is_admin else ''}")
        print(f"API key (shown once): {plaintext}")
    return 0


@reports_gateway_errors
def users_disable(args: argparse.Namespace) -> int:
    """Lock a user out: every key they hold stops working, on running servers too."""
    from domain.errors import NotFound
    from domain.users import User

    with opened_gateway(load_settings(args)) as app:
        try:
            app.disable_user(User.create_id(args.username))
        except NotFound:
            raise NotFound(f"no user named {args.username!r}") from None
    print(f"disabled {args.username}")
    return 0


@reports_gateway_errors
def models_pull(args: argparse.Namespace) -> int:
    """Download a model from the hub here, with a progress bar, through the same code path as the download worker
    (a ``DownloadJob`` owned by ``cli``); the model is registered as ``local:<id>``."""
    settings = load_settings(args)
    from pydantic import ValidationError
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    from api.schemas import DownloadModelIn
    from domain.downloads import COMPLETED
    from downloads.files import model_dir
    from downloads.worker import run_download

    try:
        spec = DownloadModelIn(id=args.id or args.repo.rsplit("/", 1)[-1], modality=args.modality)
    except ValidationError as error:
        print(f"error: {error.errors()[0]['msg']} (give --id)", file=sys.stderr)
        return 2
    model_id = f"local:{spec.id}"
    cancel = threading.Event()
    with opened_container(settings) as container:
        app, hub = container.app, container.hub()
        job = app.reusable_download(model_id, args.repo)
        if job is None:
            plan = hub.plan(args.repo, args.revision, args.file or None)
            job, _ = app.request_download(
                owner_id="cli",
                model_id=model_id,
                model={"id": spec.id, "name": spec.id, "version": args.revision, "modality": spec.modality},
                source={"type": "huggingface", "id": args.repo},
                options={"revision": args.revision, "allow_patterns": args.file or None},
                plan=plan.to_dict(),
            )
        if job.status == COMPLETED:
            print(f"{model_id} is already downloaded")
            return 0
        started = app.start_download(str(job.id), "cli")
        if started is None:
            print(f"error: {model_id} is being downloaded already (job {job.id})", file=sys.stderr)
            return 1
        signal.signal(signal.SIGINT, lambda *_: cancel.set())  # Ctrl-C cancels cleanly: no partial files left
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns) as bar:
            task = bar.add_task(args.repo, total=started.bytes_total)
            final = run_download(
                app,
                hub,
                started,
                model_dir(settings, model_id),
                cancel,
                on_bytes=lambda done, total, current: bar.update(task, completed=done, total=total),
            )
    if final.status != COMPLETED:
        print(f"error: {final.error['message'] if final.error else final.status}", file=sys.stderr)
        return 1
    result = final.result or {}
    print(f"{model_id} downloaded ({result.get('size_bytes', 0):,} bytes) to {result.get('path')}")
    return 0


def models_list(args: argparse.Namespace) -> int:
    with opened_gateway(load_settings(args)) as app:
        models = app.local_models()
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "id": m.model_id,
                        "name": m.name,
                        "version": m.model_version,
                        "modality": m.modality,
                        "runtime": m.runtime,
                        "size_bytes": m.size_bytes,
                        "location": m.location,
                    }
                    for m in models
                ]
            )
        )
        return 0
    for m in models:
        print(f"{m.model_id}\t{m.modality}\t{m.runtime}\t{m.size_bytes or 0:,} bytes\t{m.location}")
    if not models:
        print("no local models; pull one with: pluggably models pull <repo>")
    return 0


@reports_gateway_errors
def models_rm(args: argparse.Namespace) -> int:
    """Remove a downloaded model from the catalogue and delete its files."""
    settings = load_settings(args)
    from downloads.files import model_dir, remove_model_files

    model_id = args.id if args.id.startswith("local:") else f"local:{args.id}"
    with opened_gateway(settings) as app:
        app.remove_model(model_id)
    remove_model_files(model_dir(settings, model_id))
    print(f"removed {model_id}")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="pluggably", description="Pluggably LLM API gateway")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", help="data directory (LLM_API_DATA_DIR, default ./data)")
    sub = root.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", parents=[common], help="run the gateway (embedded default: everything)")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--workers", type=int, default=1, help="API processes (production mode)")
    p.set_defaults(func=serve)

    p = sub.add_parser("worker", parents=[common], help="run runtime workers (production mode)")
    p.add_argument(
        "--runtimes",
        help='comma-separated runtimes to serve, "download" for model downloads '
        "(default: all installed, and downloads)",
    )
    p.add_argument("--metrics-port", type=int, help="serve this process's Prometheus metrics on that port")
    p.set_defaults(func=worker)

    p = sub.add_parser("project", parents=[common], help="run projections, relay, usage meter, sweeper")
    p.add_argument("--rebuild", metavar="NAME", help="drop and replay one read model, then exit")
    p.add_argument("--metrics-port", type=int, help="serve this process's Prometheus metrics on that port")
    p.set_defaults(func=project)

    p = sub.add_parser("migrate", parents=[common], help="create every table")
    p.set_defaults(func=migrate_command)

    users = sub.add_parser("users", help="manage users").add_subparsers(dest="users_command", required=True)
    p = users.add_parser("create", parents=[common], help="create a user and print its first API key")
    add_user_flags(p)
    p.set_defaults(func=users_create)
    p = users.add_parser("disable", parents=[common], help="lock a user out (every key stops working)")
    p.add_argument("--username", required=True)
    p.set_defaults(func=users_disable)

    models = sub.add_parser("models", help="local models").add_subparsers(dest="models_command", required=True)
    p = models.add_parser("pull", parents=[common], help="download a model from Hugging Face")
    p.add_argument("repo", help="the hub repository, e.g. TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF")
    p.add_argument("--file", action="append", metavar="PATTERN", help="only files matching this glob (repeatable)")
    p.add_argument("--modality", choices=("text", "image", "3d"), default="text")
    p.add_argument("--id", help="the model id, used as local:<id> (default: the repository's name)")
    p.add_argument("--revision", default="main", help="branch, tag or commit (default main)")
    p.set_defaults(func=models_pull)
    p = models.add_parser("list", parents=[common], help="list the local models")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=models_list)
    p = models.add_parser("rm", parents=[common], help="remove a local model and its files")
    p.add_argument("id", help="the model id (local:<id> or <id>)")
    p.set_defaults(func=models_rm)
    return root


def add_user_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--username", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--admin", action="store_true")
    p.add_argument("--json", action="store_true", help="print {user_id, username, api_key} as JSON")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
