"""The composition root: builds every part once, for each role a process plays.

Roles: ``api`` (the HTTP surface), ``worker`` (runtimes consuming work) and ``projector`` (projections, the
relay, the usage meter and the sweeper). The embedded default plays all three in one process on SQLite and
the in-process bus; production runs them as separate processes on PostgreSQL and NATS.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from api.auth import Authenticator
from commands.service import Gateway
from infra.artifacts import ArtifactStore
from infra.bus import open_bus
from infra.eventstore import eventstore_env
from infra.passwords import ApiKeys, Passwords
from infra.relay import Relay
from infra.settings import Settings
from infra.sqldb import open_database
from projections import usage
from projections.base import Projector, create_tables
from projections.generations import GenerationsProjection
from projections.keys import KeysProjection
from projections.sessions import SessionsProjection
from projections.sweeper import Sweeper
from runtimes.catalog import Catalog
from runtimes.credentials import CredentialResolver
from runtimes.registry import RuntimeRegistry
from runtimes.worker import Worker

log = logging.getLogger(__name__)
T = TypeVar("T")


def secret_file(settings: Settings, name: str, size: int = 32) -> bytes:
    """A server secret generated once into the data dir (mode 0600)."""
    path = Path(settings.data_dir) / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(size))
    return path.read_bytes()


def key_hash_secret(settings: Settings) -> bytes:
    explicit = settings.secret("key_hash_secret")
    if explicit:
        return explicit.encode()
    master = settings.secret("master_key")
    if master:
        return hashlib.sha256(b"pluggably-api-key-hash:" + master.encode()).digest()
    return secret_file(settings, "keyhash.secret")


def projections() -> list:
    return [KeysProjection(), SessionsProjection(), GenerationsProjection()]


def migrate(settings: Settings) -> None:
    """Create every table once (event store, read models, relay, usage), before any worker starts."""
    db = open_database(settings)  # first: it creates the PostgreSQL schema when one is configured
    app = Gateway(eventstore_env(settings, create_table=True), passwords=Passwords(), api_keys=ApiKeys(b""))
    try:
        create_tables(db, projections())
        Relay(app.recorder, app.mapper, db, bus=None).create_tables()  # type: ignore[arg-type]
        usage.create_tables(db)
    finally:
        db.close()
        app.close()


class Container:
    def __init__(self, settings: Settings, *, roles: set[str], runtimes: list[str] | None = None,
                 registry: RuntimeRegistry | None = None) -> None:
        self.settings = settings
        self.roles = roles
        self.executor = ThreadPoolExecutor(max_workers=32, thread_name_prefix="pluggably")
        self.passwords = Passwords()
        self.api_keys = ApiKeys(key_hash_secret(settings))
        self.app = Gateway(eventstore_env(settings, create_table=False), passwords=self.passwords,
                           api_keys=self.api_keys)
        self.db = open_database(settings)
        self.bus = open_bus(settings)
        self.registry = registry or RuntimeRegistry(settings, set(runtimes) if runtimes else None)
        self.catalog = Catalog()
        self.catalog.register_defaults(settings)
        self.projector = Projector(self.app, self.db, projections())
        self.auth = Authenticator(self.db, self.api_keys, self.projector, settings.read_your_writes_timeout_s)
        self.artifacts = ArtifactStore(Path(settings.data_dir) / "artifacts")
        self.credentials = CredentialResolver(settings)
        self.worker = Worker(self.app, self.bus, self.registry, self.credentials, self.artifacts, settings,
                             self.executor)
        self.relay = Relay(self.app.recorder, self.app.mapper, self.db, self.bus)
        self.meter = usage.UsageMeter(self.db, self.bus)
        self.sweeper = Sweeper(self.db, self.bus, settings.sweeper_grace_s)
        self.wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._subs: list[Any] = []
        self._user_listeners: list[Callable[[str], None]] = [self.auth.evict_user]

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, lambda: fn(*args, **kwargs))

    def on_user_event(self, listener: Callable[[str], None]) -> None:
        """``listener(user_id)`` after any event of that user (cache eviction)."""
        self._user_listeners.append(listener)

    def _user_changed(self, user_id: str) -> None:
        for listener in self._user_listeners:
            listener(user_id)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.app.after_save = lambda: loop.call_soon_threadsafe(self.wake.set)
        await self.bus.connect()
        if "projector" in self.roles:
            self.projector.listeners.append(
                lambda event: self._user_changed(str(event.originator_id))
                if type(event).__qualname__.startswith("User.") else None)
            self._subs.append(await self.meter.start())
            self._tasks += [asyncio.create_task(self.projector.run_forever(self.wake)),
                            asyncio.create_task(self.relay.run_forever(self.wake)),
                            asyncio.create_task(self.sweeper.run_forever(self.settings.sweeper_interval_s)),
                            asyncio.create_task(self._observe())]
        elif "api" in self.roles:
            async def on_user(subject: str, data: bytes) -> None:
                import json

                self._user_changed(json.loads(data)["aggregate_id"])

            self._subs.append(await self.bus.subscribe("events.User.>", on_user))
        if "worker" in self.roles:
            await self.worker.start(self.registry.names())

    async def _observe(self) -> None:
        from infra import metrics
        from infra.bus.subjects import queue_name, work_subject

        while True:
            await asyncio.sleep(5)
            with contextlib.suppress(Exception):
                metrics.PROJECTION_LAG.set(await self.run(self.projector.lag))
                for name in self.registry.names():
                    metrics.QUEUE_DEPTH.labels(queue_name(name)).set(
                        await self.bus.pending(work_subject(name), queue_name(name)))

    async def stop(self) -> None:
        await self.worker.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.stop()
        await self.bus.close()
        await self.registry.aclose()
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.db.close()
        self.app.close()
