"""The composition root: builds every part once, for each role a process plays.

Roles: ``api`` (the HTTP surface), ``worker`` (runtimes consuming work) and ``projector`` (projections, the
relay, the usage meter and the sweeper). The embedded default plays all three in one process on SQLite and
the in-process bus; production runs them as separate processes on PostgreSQL and NATS.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import hmac
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from api.auth import Authenticator
from commands.service import Gateway
from commands.sign_in import SignIn
from domain.errors import NotFound, ProviderNotConfigured
from infra.artifacts import ArtifactStore
from infra.bus import open_bus
from infra.crypto import CredentialUnreadable, CredentialVault, load_master_key
from infra.datakeys import SqlDataKeyStore
from infra.eventstore import eventstore_env
from infra.login_throttle import LoginThrottle
from infra.passwords import ApiKeys, Passwords
from infra.relay import Relay
from infra.settings import Settings
from infra.sqldb import open_database
from projections import usage
from projections.base import Projector, create_tables
from projections.generations import GenerationsProjection
from projections.jobs import JobsProjection
from projections.keys import KeysProjection
from projections.models import ModelsProjection, list_models
from projections.sessions import SessionsProjection
from projections.sweeper import Sweeper
from runtimes.base import Credential
from runtimes.catalog import Catalog, CatalogEntry
from runtimes.credentials import CredentialResolver
from runtimes.downloads import DownloadWorker
from runtimes.registry import RuntimeRegistry
from runtimes.worker import Worker

log = logging.getLogger(__name__)
T = TypeVar("T")


def key_hash_secret(settings: Settings) -> bytes:
    """The HMAC key of stored API key hashes: set explicitly, or derived from the master key."""
    explicit = settings.secret("key_hash_secret")
    if explicit:
        return explicit.encode()
    return hmac.new(load_master_key(settings), b"pluggably api key hashes", hashlib.sha256).digest()


def projections() -> list:
    return [KeysProjection(), SessionsProjection(), GenerationsProjection(), JobsProjection(), ModelsProjection()]


def migrate(settings: Settings) -> None:
    """Create every table once (event store, read models, relay, usage), before any worker starts."""
    with migration_lock(settings):
        db = open_database(settings)  # first: it creates the PostgreSQL schema when one is configured
        app = Gateway(eventstore_env(settings, create_table=True), passwords=Passwords(), api_keys=ApiKeys(b""))
        try:
            create_tables(db, projections())
            Relay(app.recorder, app.mapper, db, bus=None).create_tables()  # type: ignore[arg-type]
            usage.create_tables(db)
            SqlDataKeyStore(db).create_table()
            login_throttle(settings, db).create_tables()
        finally:
            db.close()
            app.close()


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


def login_throttle(settings: Settings, db: Any) -> LoginThrottle:
    return LoginThrottle(db, settings.login_failure_limit, settings.login_failure_window_s)


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
        self.catalog = Catalog(lookup=self._registered_model)
        self.catalog.register_defaults(settings)
        self.projector = Projector(self.app, self.db, projections())
        self.auth = Authenticator(self.db, self.api_keys, self.projector, settings.read_your_writes_timeout_s)
        self.sign_in = SignIn(self.app, self.passwords, login_throttle(settings, self.db), settings.session_ttl_s)
        self.artifacts = ArtifactStore(Path(settings.data_dir) / "artifacts")
        self.vault = CredentialVault(load_master_key(settings), SqlDataKeyStore(self.db))
        self.credentials = CredentialResolver(settings, self.user_credential)
        self.worker = Worker(self.app, self.bus, self.registry, self.credentials, self.artifacts, settings,
                             self.executor)
        #: ``pluggably worker --runtimes ...`` takes download jobs only when ``download`` is named (or none is).
        self.serves_downloads = runtimes is None or "download" in runtimes
        self.downloads = DownloadWorker(self.app, self.bus, settings, self.hub)
        self._hub: Any = None
        self.relay = Relay(self.app.recorder, self.app.mapper, self.db, self.bus)
        self.meter = usage.UsageMeter(self.db, self.bus)
        self.sweeper = Sweeper(self.db, self.bus, settings.sweeper_grace_s)
        self.wakes = (asyncio.Event(), asyncio.Event())  # the projector's and the relay's
        self._tasks: list[asyncio.Task] = []
        self._subs: list[Any] = []
        self._credentials: dict[tuple[str, str], Credential | None] = {}
        self._user_listeners: list[Callable[[str], None]] = [self.auth.evict_user, self.forget_credentials]

    def register_configured_models(self) -> None:
        """The ``LLM_API_LOCAL_*`` defaults of this host become ``CatalogModel`` events (once)."""
        for entry in self.catalog.configured:
            self.app.register_local_model(model_id=entry.id, name=entry.name, version=entry.version,
                                          modality=entry.modality, runtime=entry.runtime, location=entry.location,
                                          size_bytes=entry.size_bytes or 0, source={"type": "setting"})

    def local_runtimes(self) -> frozenset[str]:
        return frozenset(n for n in self.registry.names() if not self.registry.get(n).needs_credential)

    def user_credential(self, user_id: str, provider: str) -> Credential | None:
        """The user's own saved credential, decrypted; None when there is none or it was crypto-shredded.

        Answers are cached in memory (no database read per request); any event of the user evicts them."""
        key = (user_id, provider)
        if key not in self._credentials:
            self._credentials[key] = self._load_user_credential(user_id, provider)
        return self._credentials[key]

    def forget_credentials(self, user_id: str) -> None:
        for key in [k for k in self._credentials if k[0] == user_id]:
            self._credentials.pop(key, None)

    def _load_user_credential(self, user_id: str, provider: str) -> Credential | None:
        try:
            saved = self.app.get_user(user_id).credentials.get(provider)
        except NotFound:
            return None
        if saved is None:
            return None
        try:
            api_key = self.vault.decrypt(user_id, saved["ciphertext"])
        except CredentialUnreadable:
            return None
        endpoint = saved["endpoint"] or (self.settings.azure_openai_endpoint if provider == "azure" else None)
        api_version = saved["api_version"] or (self.settings.azure_openai_api_version if provider == "azure" else None)
        return Credential(api_key=api_key, source="user", endpoint=endpoint, api_version=api_version)

    def hub(self) -> Any:
        """The Hugging Face hub client (``huggingface_hub`` is imported on first use only)."""
        if self._hub is None:
            try:
                from infra.hub import HubClient
            except ImportError:
                raise ProviderNotConfigured("Model downloads need huggingface_hub: install pluggably[hub].",
                                            code="hub_not_installed") from None
            self._hub = HubClient.from_settings(self.settings, poll_s=0.2)
        return self._hub

    def _registered_model(self, model_id: str) -> CatalogEntry | None:
        """A local model from the event store: the catalogue's answer to a miss."""
        model = self.app.find_model(model_id)
        if model is None:
            return None
        return CatalogEntry(id=model.model_id, name=model.name, version=model.model_version, modality=model.modality,
                            runtime=model.runtime, location=model.location, size_bytes=model.size_bytes)

    def _catalog_changed(self, event_type: str, data: dict[str, Any]) -> None:
        """Keep the in-memory catalogue current from ``CatalogModel`` events."""
        if event_type.endswith(".Removed"):
            self.catalog.remove(data["model_id"])
        elif event_type.endswith("Registered"):
            self.catalog.register(CatalogEntry(
                id=data["model_id"], name=data["name"], version=data["version"], modality=data["modality"],
                runtime=data["runtime"], location=data["location"], size_bytes=data["size_bytes"]))

    def registered_models(self) -> list[CatalogEntry]:
        """The local models of the models view."""
        return [CatalogEntry(id=row["id"], name=row["name"], version=row["version"], modality=row["modality"],
                             runtime=row["runtime"], location=row["location"], size_bytes=row["size_bytes"])
                for row in list_models(self.db)]

    def load_catalog(self) -> None:
        """Warm the in-memory catalogue from the models view at start (this host's settings win)."""
        for entry in self.registered_models():
            if entry.id not in self.catalog.entries:
                self.catalog.register(entry)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, lambda: fn(*args, **kwargs))

    def _user_changed(self, user_id: str) -> None:
        for listener in self._user_listeners:
            listener(user_id)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()

        def woken() -> None:
            for wake in self.wakes:
                wake.set()

        self.app.after_save = lambda: loop.call_soon_threadsafe(woken)
        await self.bus.connect()
        if "api" in self.roles:
            try:
                await self.run(self.load_catalog)
            except Exception:
                log.exception("could not load the local models; they are found on first use")
        if "projector" in self.roles:
            self.projector.listeners.append(
                lambda event: self._user_changed(str(event.originator_id))
                if type(event).__qualname__.startswith("User.") else None)
            self.projector.listeners.append(
                lambda event: self._catalog_changed(type(event).__qualname__, event.__dict__)
                if type(event).__qualname__.startswith("CatalogModel.") else None)
            self._subs.append(await self.meter.start())
            self._tasks += [asyncio.create_task(self.projector.run_forever(self.wakes[0])),
                            asyncio.create_task(self.relay.run_forever(self.wakes[1])),
                            asyncio.create_task(self.sweeper.run_forever(self.settings.sweeper_interval_s))]
        else:  # API and worker processes: caches kept current from the relayed events
            async def on_user(subject: str, data: bytes) -> None:
                self._user_changed(json.loads(data)["aggregate_id"])

            async def on_model(subject: str, data: bytes) -> None:
                message = json.loads(data)
                self._catalog_changed(message["type"], message["data"])

            self._subs.append(await self.bus.subscribe("events.User.>", on_user))
            self._subs.append(await self.bus.subscribe("events.CatalogModel.>", on_model))
        if "worker" in self.roles:
            await self.run(self.register_configured_models)
            await self.worker.start(self.registry.names())
            if self.serves_downloads:
                await self.downloads.start()
            if self.settings.embedded and "projector" in self.roles:  # the last process's bus died with it
                await self.run(self.projector.catch_up)
                await self.sweeper.resume_generations()
                if self.serves_downloads:
                    await self.sweeper.resume_downloads()

    async def observe(self) -> None:
        """Set the gauges that describe the whole deployment (queue depths, projection lag): at scrape time."""
        from infra import metrics
        from infra.bus.subjects import DOWNLOAD_QUEUE, DOWNLOAD_SUBJECT, queue_name, work_subject

        metrics.PROJECTION_LAG.set(await self.run(self.projector.lag))
        queues = [(work_subject(name), queue_name(name)) for name in self.registry.names()]
        for subject, queue in [*queues, (DOWNLOAD_SUBJECT, DOWNLOAD_QUEUE)]:
            metrics.QUEUE_DEPTH.labels(queue).set(await self.bus.pending(subject, queue))

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
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.db.close()
        self.app.close()
