"""The ``pluggably`` command line: serve, worker, project, migrate, users."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

FLAG_ENV = {"data_dir": "LLM_API_DATA_DIR", "host": "LLM_API_HOST", "port": "LLM_API_PORT",
            "runtimes": "LLM_API_RUNTIMES"}


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
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def app_factory() -> Any:
    """Builds the Sanic app in each server process (Sanic's worker manager calls this after spawning)."""
    from api.app import create_app
    from api.bootstrap import Container
    from infra.settings import Settings

    settings = Settings()
    roles = {"api", "worker", "projector"} if settings.embedded else {"api"}
    return create_app(Container(settings, roles=roles))


def serve(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    setup_logging(settings)
    metrics_dir = Path(settings.data_dir) / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    from api.bootstrap import migrate

    migrate(settings)
    workers = args.workers
    if settings.embedded and workers > 1:
        logging.getLogger("pluggably").warning(
            "the embedded default runs one process; set LLM_API_NATS_URL and LLM_API_DATABASE_URL for --workers")
        workers = 1
    loader = AppLoader(factory=app_factory)
    app = loader.load()
    app.prepare(host=settings.host, port=settings.port, workers=workers, single_process=workers == 1,
                access_log=False, motd=False)
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


def worker(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    setup_logging(settings)
    from api.bootstrap import Container

    runtimes = [r.strip() for r in (settings.runtimes or "").split(",") if r.strip()] or None
    container = Container(settings, roles={"worker"}, runtimes=runtimes)
    logging.getLogger("pluggably").info("worker serving %s", ", ".join(container.registry.names()))
    asyncio.run(_run_until_signalled(container))
    return 0


def project(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    setup_logging(settings)
    from api.bootstrap import Container, migrate

    migrate(settings)
    container = Container(settings, roles={"projector"})
    if args.rebuild:
        if args.rebuild not in container.projector.projections:
            print(f"unknown projection {args.rebuild!r}; known: {', '.join(container.projector.projections)}",
                  file=sys.stderr)
            return 2
        container.projector.rebuild(args.rebuild)
        print(f"rebuilt {args.rebuild}")
        return 0
    asyncio.run(_run_until_signalled(container))
    return 0


def migrate_command(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    from api.bootstrap import migrate

    migrate(settings)
    print("migrated")
    return 0


def users_create(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    from api.bootstrap import key_hash_secret, migrate
    from commands.service import Gateway
    from domain.errors import GatewayError
    from infra.eventstore import eventstore_env
    from infra.passwords import ApiKeys, Passwords

    migrate(settings)
    app = Gateway(eventstore_env(settings, create_table=False), passwords=Passwords(),
                  api_keys=ApiKeys(key_hash_secret(settings)))
    try:
        user = app.register_user(args.username, args.password, args.admin)
        key_id, plaintext = app.issue_api_key(user.id, "default")
    except GatewayError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 1
    finally:
        app.close()
    if args.json:
        print(json.dumps({"user_id": str(user.id), "username": user.username, "api_key": plaintext,
                          "is_admin": user.is_admin, "key_id": key_id}))
    else:
        print(f"created user {user.username} ({user.id}){' as admin' if user.is_admin else ''}")
        print(f"API key (shown once): {plaintext}")
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
    p.add_argument("--runtimes", help="comma-separated runtimes to serve (default: all installed)")
    p.set_defaults(func=worker)

    p = sub.add_parser("project", parents=[common], help="run projections, relay, usage meter, sweeper")
    p.add_argument("--rebuild", metavar="NAME", help="drop and replay one read model, then exit")
    p.set_defaults(func=project)

    p = sub.add_parser("migrate", parents=[common], help="create every table")
    p.set_defaults(func=migrate_command)

    users = sub.add_parser("users", help="manage users").add_subparsers(dest="users_command", required=True)
    p = users.add_parser("create", parents=[common], help="create a user and print its first API key")
    add_user_flags(p)
    p.set_defaults(func=users_create)
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
