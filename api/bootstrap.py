"""The composition root: ``build`` makes the whole object graph of a process, once, for every entry point (``serve``,
``worker``, ``project``, ``migrate``, the CLI's commands, tests, benchmarks).

A process plays some roles: ``api`` (the HTTP surface), ``worker`` (runtimes and downloads consuming work) and
``projector`` (projections, the relay, the usage meter and the sweeper). The embedded default plays all three in
one process on SQLite and the in-process bus; production runs them as separate processes on PostgreSQL and NATS.
A CLI command plays none: it uses the stores and use cases without starting anything.

:class:`Container` holds the parts and starts and stops what the roles need: wiring, nothing else. What the parts
do is in ``services/`` (the use cases), ``runtimes/``, ``downloads/``, ``projections/`` and ``infra/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol, cast

from commands.service import Gateway
from domain.users import User
from downloads import Hub
from downloads.worker import DownloadWorker
from infra.artifacts import ArtifactStore
from infra.bus import open_bus
from infra.bus.base import Subscription
from infra.crypto import CredentialVault, load_master_key
from infra.datakeys import SqlDataKeyStore
from infra.eventstore import eventstore_env
from infra.login_throttle import LoginThrottle
from infra.parking import Parking
from infra.passwords import ApiKeys, Passwords
from infra.relay import Relay, load_event
from infra.settings import Settings
from infra.sqldb import open_database
from infra.threads import Threads
from projections import usage
from projections.base import Projection, Projector, create_tables
from projections.generations import GenerationsProjection
from projections.jobs import JobsProjection
from projections.keys import KeysProjection
from projections.models import ModelsProjection
from projections.sessions import SessionsProjection
from projections.sweeper import Sweeper
from runtimes.catalog import Catalog
from runtimes.credentials import CredentialResolver
from runtimes.registry import RuntimeRegistry
from runtimes.worker import Worker
from services.accounts import Accounts
from services.all import Services
from services.auth import Authenticator
from services.catalogue import CatalogueSync, Models
from services.credentials import Credentials, UserCredentials
from services.downloads import Downloads
from services.feed import EventFeed
from services.freshness import Freshness
from services.generation import Generations
from services.health import Health
from services.sessions import Sessions
from services.sign_in import SignIn

log = logging.getLogger(__name__)

API, WORKER, PROJECTOR = "api", "worker", "projector"
PARKED_RETRY_S = 60.0  # how often the usage meter tries its parked events again (the projector and relay: theirs)
EVERY_ROLE = frozenset({API, WORKER, PROJECTOR})


class CreatesTables(Protocol):
    """What the event store's recorders (SQLite, PostgreSQL) do that the library's interface does not say."""

    def create_table(self) -> None: ...


def key_hash_secret(settings: Settings) -> bytes:
    """The HMAC key of stored API key hashes: set explicitly, or derived from the master key."""
    explicit = settings.secret("key_hash_secret")
    if explicit:
        return explicit.encode()
    return hmac.new(load_master_key(settings), b"pluggably api key hashes", hashlib.sha256).digest()


def projections() -> list[Projection]:
    return [KeysProjection(), SessionsProjection(), GenerationsProjection(), JobsProjection(), ModelsProjection()]


class Container:
    """The parts of one process (made by ``build``), and the start and stop of what its roles run."""

    def __init__(
        self, settings: Settings, roles: frozenset[str], runtimes: list[str] | None, registry: RuntimeRegistry | None
    ) -> None:
        self.settings, self.roles = settings, roles
        self.threads = Threads()
        self.db = open_database(settings)  # first: it creates the PostgreSQL schema when one is configured
        self.passwords = Passwords()
        self.app = Gateway(
            eventstore_env(settings, create_table=False),
            passwords=self.passwords,
            api_keys=ApiKeys(key_hash_secret(settings)),
        )
        self.bus = open_bus(settings)
        self.registry = registry or RuntimeRegistry(settings, set(runtimes) if runtimes else None)
        #: ``pluggably worker --runtimes ...`` takes download jobs only when ``download`` is named (or none is).
        self.serves_downloads = runtimes is None or "download" in runtimes
        self.hub = Hub(settings, poll_s=0.2)
        self.artifacts = ArtifactStore(Path(settings.data_dir) / "artifacts")
        self.vault = CredentialVault(load_master_key(settings), SqlDataKeyStore(self.db))
        self.login_throttle = LoginThrottle(self.db, settings.login_failure_limit, settings.login_failure_window_s)

        self.parking = Parking(self.db)
        self.projector = Projector(self.app.recorder, self.app.mapper, self.db, projections(), parking=self.parking)
        self.freshness = Freshness(self.projector, self.threads, settings.read_your_writes_timeout_s)
        self.relay = Relay(self.app.recorder, self.app.mapper, self.db, self.bus, parking=self.parking)
        self.meter = usage.UsageMeter(
            self.db,
            self.bus,
            self.registry.cost,
            functools.partial(load_event, self.app.recorder, self.app.mapper),
            self.parking,
        )
        self.sweeper = Sweeper(self.db, self.bus, settings.sweeper_grace_s)

        self.catalog = Catalog()
        self.catalog.register_defaults(settings)
        self.catalogue = CatalogueSync(self.catalog, self.app, self.db)
        self.catalog.lookup = self.catalogue.lookup  # a miss: a model downloaded a moment ago
        self.user_credentials = UserCredentials(self.app, self.vault)
        self.credentials = CredentialResolver(self.registry, self.user_credentials)
        self.auth = Authenticator(
            self.db,
            self.app.api_keys,
            self.projector,
            self.freshness,
            self.app.recorder,
            self.app.mapper,
            self.app.get_user,
            self.threads,
        )
        self.feed = EventFeed()
        self.feed.on_aggregate(User, self.auth.evict_user)
        self.feed.on_aggregate(User, self.user_credentials.forget)
        for event_class, handler in self.catalogue.handlers().items():
            self.feed.on(event_class, handler)

        self.worker = Worker(
            self.app, self.bus, self.registry, self.credentials, self.artifacts, settings, self.threads
        )
        self.downloads = DownloadWorker(self.app, self.bus, settings, self.hub, self.threads)
        self.services = Services(
            settings=settings,
            auth=self.auth,
            generations=Generations(
                self.app,
                self.bus,
                self.db,
                self.registry,
                self.catalog,
                self.credentials,
                self.threads,
                self.freshness,
                settings.request_timeout_s,
                settings.max_input_bytes,
            ),
            sessions=Sessions(self.app, self.db, self.catalog, self.registry, self.threads, self.freshness),
            models=Models(
                self.app,
                self.db,
                self.catalog,
                self.catalogue,
                self.registry,
                self.credentials,
                self.threads,
                self.freshness,
            ),
            downloads=Downloads(
                self.app, self.bus, self.db, self.hub, self.threads, self.freshness, settings.allow_user_downloads
            ),
            credentials=Credentials(
                self.app, self.db, self.vault, self.registry, self.user_credentials, self.threads, self.freshness
            ),
            accounts=Accounts(self.app, self.db, self.auth, self.artifacts, self.threads, self.freshness),
            health=Health(self.app.recorder, self.projector, self.bus, self.registry, self.threads, self.parking),
            sign_in=SignIn(
                self.app,
                self.passwords,
                self.login_throttle,
                settings.session_ttl_s,
                self.auth,
                self.threads,
                self.freshness,
            ),
        )
        self.wakes = (asyncio.Event(), asyncio.Event())  # the projector's and the relay's
        self._tasks: list[asyncio.Task[Any]] = []
        self._subs: list[Subscription] = []

    # -- the roles ---------------------------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()

        def woken() -> None:
            for wake in self.wakes:
                wake.set()

        def saved() -> None:  # in whichever thread saved
            loop.call_soon_threadsafe(woken)

        self.app.after_save = saved
        await self.bus.connect()
        if API in self.roles:
            try:
                await self.threads.run(self.catalogue.load)
            except Exception:
                log.exception("could not load the local models; they are found on first use")
        if PROJECTOR in self.roles:
            self.projector.listeners.append(self.feed.listener)
            self._subs.append(await self.meter.start())
            self._tasks += [
                asyncio.create_task(self.projector.run_forever(self.wakes[0])),
                asyncio.create_task(self.relay.run_forever(self.wakes[1])),
                asyncio.create_task(self.sweeper.run_forever(self.settings.sweeper_interval_s)),
                asyncio.create_task(self._every(PARKED_RETRY_S, self.meter.retry_parked)),
            ]
        else:  # API and worker processes: caches kept current from the relayed events
            self._subs += await self.feed.subscribe(self.bus)
        if self.roles & {API, WORKER}:  # and from the event store itself, whatever the bus and the projector do
            self._tasks.append(
                asyncio.create_task(
                    self.feed.follow_store(self.app.recorder, self.app.mapper, self.threads, aggregates=(User,))
                )
            )
        if WORKER in self.roles:
            await self.threads.run(self.catalogue.register_configured)
            await self.worker.start(self.registry.names())
            if self.serves_downloads:
                await self.downloads.start()
            if self.settings.embedded and PROJECTOR in self.roles:  # the last process's bus died with it
                await self.threads.run(self.projector.catch_up)
                await self.sweeper.resume_generations()
                if self.serves_downloads:
                    await self.sweeper.resume_downloads()

    async def _every(self, interval_s: float, job: Any) -> None:
        """Run ``job`` (blocking) in a thread every ``interval_s``; a failure is logged and tried again next time."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.threads.run(job)
            except Exception:
                log.exception("periodic %s failed", getattr(job, "__qualname__", job))

    async def stop(self) -> None:
        await self.worker.stop()
        await self.downloads.stop()
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
        self.close()

    def close(self) -> None:
        """Release the stores (what a CLI command that started nothing calls)."""
        self.threads.shutdown()
        self.db.close()
        self.app.close()


def build(
    settings: Settings,
    roles: frozenset[str] | set[str] = frozenset(),
    *,
    runtimes: list[str] | None = None,
    registry: RuntimeRegistry | None = None,
) -> Container:
    """The object graph of a process that plays ``roles`` (none: a CLI command, a test). ``runtimes`` limits a
    worker to those runtimes (and downloads to ``download`` among them); ``registry`` replaces the entry points
    (tests)."""
    return Container(settings, frozenset(roles), runtimes, registry)


@contextlib.contextmanager
def opened(settings: Settings) -> Iterator[Container]:
    """For a command of this process: the graph built and migrated (tables created), closed after."""
    container = build(settings)
    try:
        migrate(container)
        yield container
    finally:
        container.close()


def migrate(container: Container) -> None:
    """Create every table once (event store, read models, relay, usage, data keys), before any worker starts."""
    with migration_lock(container.settings):
        cast(CreatesTables, container.app.recorder).create_table()
        create_tables(container.db, list(container.projector.projections.values()))
        container.relay.create_tables()
        usage.create_tables(container.db)
        SqlDataKeyStore(container.db).create_table()
        container.login_throttle.create_tables()


@contextlib.contextmanager
def migration_lock(settings: Settings) -> Iterator[None]:
    """Processes started together (``serve`` and ``project`` both migrate) take turns: PostgreSQL's DDL is not safe
    to race, even ``IF NOT EXISTS`` (unique violations in its catalogue, "tuple concurrently updated")."""
    if not settings.database_url:
        yield  # SQLite: one writer at a time anyway
        return
    import psycopg

    with psycopg.connect(settings.database_url, autocommit=True) as conn:  # closing it releases the lock
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"pluggably:migrate:{settings.database_schema}",))
        yield
