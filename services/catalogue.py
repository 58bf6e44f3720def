"""The model catalogue: which models a caller can use (``GET /v1/models``, ``GET /v1/providers``), an admin's
removal of a downloaded model, and the in-memory catalogue kept current from ``CatalogModel`` events."""

from __future__ import annotations

from typing import Any

from commands.service import Gateway
from domain.catalog import CatalogModel
from domain.errors import InvalidRequest
from infra.sqldb import SqlDatabase
from infra.threads import Threads
from projections.jobs import active_jobs
from projections.models import list_models
from runtimes.catalog import Catalog, CatalogEntry, local_id, provider_entries
from runtimes.credentials import CredentialResolver
from runtimes.registry import RuntimeRegistry
from services.auth import Principal
from services.freshness import Freshness

FIELDS = ("id", "name", "version", "modality", "runtime", "local", "size_bytes", "status")
MODALITIES = ("text", "image", "3d")


def entry_of_model(model: CatalogModel) -> CatalogEntry:
    return CatalogEntry(
        id=model.model_id,
        name=model.name,
        version=model.model_version,
        modality=model.modality,
        runtime=model.runtime,
        location=model.location,
        size_bytes=model.size_bytes,
    )


def entry_of_row(row: dict[str, Any]) -> CatalogEntry:
    """A row of the models view (``projections.models``)."""
    return CatalogEntry(
        id=row["id"],
        name=row["name"],
        version=row["version"],
        modality=row["modality"],
        runtime=row["runtime"],
        location=row["location"],
        size_bytes=row["size_bytes"],
    )


class CatalogueSync:
    """Keeps this process's in-memory catalogue (``runtimes.catalog.Catalog``) current: loaded from the models
    view at start, then told of each ``CatalogModel`` event (``registered``, ``removed``); a miss for a model
    downloaded a moment ago reads its aggregate (``lookup``)."""

    def __init__(self, catalog: Catalog, app: Gateway, db: SqlDatabase) -> None:
        self.catalog, self.app, self.db = catalog, app, db

    def lookup(self, model_id: str) -> CatalogEntry | None:
        model = self.app.find_model(model_id)
        return entry_of_model(model) if model is not None else None

    def registered_models(self) -> list[CatalogEntry]:
        """The local models of the models view."""
        return [entry_of_row(row) for row in list_models(self.db)]

    def load(self) -> None:
        """Warm the in-memory catalogue from the models view (this host's settings win)."""
        for entry in self.registered_models():
            if entry.id not in self.catalog.entries:
                self.catalog.register(entry)

    def registered(self, data: dict[str, Any]) -> None:
        """A ``CatalogModel.Registered`` or ``Reregistered`` event's fields."""
        self.catalog.register(entry_of_row({**data, "id": data["model_id"]}))

    def removed(self, data: dict[str, Any]) -> None:
        self.catalog.remove(data["model_id"])

    def handlers(self) -> dict[type, Any]:
        """What this listens to, by event class (see ``services.feed``)."""
        return {
            CatalogModel.Registered: self.registered,
            CatalogModel.Reregistered: self.registered,
            CatalogModel.Removed: self.removed,
        }

    def register_configured(self) -> None:
        """The ``LLM_API_LOCAL_*`` defaults of this host become ``CatalogModel`` events (once)."""
        for entry in self.catalog.configured:
            self.app.register_local_model(
                model_id=entry.id,
                name=entry.name,
                version=entry.version,
                modality=entry.modality,
                runtime=entry.runtime,
                location=entry.location,
                size_bytes=entry.size_bytes or 0,
                source={"type": "setting"},
            )


class Models:
    def __init__(
        self,
        app: Gateway,
        db: SqlDatabase,
        catalog: Catalog,
        sync: CatalogueSync,
        registry: RuntimeRegistry,
        credentials: CredentialResolver,
        threads: Threads,
        freshness: Freshness,
    ) -> None:
        self.app, self.db, self.catalog, self.sync = app, db, catalog, sync
        self.registry, self.credentials, self.threads, self.freshness = registry, credentials, threads, freshness

    async def listing(self, who: Principal, modality: str | None = None) -> list[dict[str, Any]]:
        """Local models (configured, downloaded, downloading) and the models of the providers the caller can use.

        Read-your-writes like the jobs beside it: the local models come from the models view (this process's
        catalogue hears of new and removed models through the relay, which may lag), with the models this host's
        settings configure."""
        if modality is not None and modality not in MODALITIES:
            raise InvalidRequest("modality must be text, image or 3d.", param="modality")
        caught_up = await self.freshness.wait()
        local = {e.id: e for e in await self.threads.run(self.sync.registered_models)}
        if not caught_up:  # the view may lack what the relay brought already: list both (the catalogue is unchanged)
            local = {e.id: e for e in self.catalog.list()} | local
        configured = {e.id: e for e in self.catalog.configured}  # this host's defaults first
        entries = [*configured.values(), *(e for model_id, e in local.items() if model_id not in configured)]
        for name in self.registry.credentialed():
            if await self.threads.run(self.credentials.source, who.user_id, name) is not None:
                entries += provider_entries(self.registry.get(name))
        answer = [
            {k: v for k, v in e.as_dict().items() if k in FIELDS}
            for e in entries
            if modality is None or e.modality == modality
        ]
        known = {m["id"] for m in answer}
        for job in await self.threads.run(active_jobs, self.db):
            spec = job["model"]
            if job["model_id"] not in known and (modality is None or spec["modality"] == modality):
                answer.append(
                    {
                        "id": job["model_id"],
                        "name": spec["name"],
                        "version": spec["version"],
                        "modality": spec["modality"],
                        "runtime": None,
                        "local": True,
                        "size_bytes": job["bytes_total"],
                        "status": "downloading",
                    }
                )
        return answer

    async def remove(self, who: Principal, model_id: str) -> str:
        """An admin removes a downloaded model: it leaves the catalogue at once; the download workers, which own
        the models directory, delete its files when the removal reaches them. Answers the model's id."""
        who.require_admin("Removing a model needs an admin's API key.")
        prefix, sep, name = model_id.partition(":")
        if sep and prefix != "local":
            raise InvalidRequest(f"Only local models can be removed; {model_id} is a provider's.", param="model_id")
        removed = await self.threads.run(self.app.remove_model, local_id(name if sep else model_id))
        self.catalog.remove(removed.model_id)
        return removed.model_id

    def providers(self, who: Principal) -> list[dict[str, Any]]:
        """Each provider with whether the caller can use it (and whose key), then ``local`` for the local
        runtimes."""
        answer: list[dict[str, Any]] = []
        local_modalities: set[str] = set()
        for name in self.registry.names():
            runtime = self.registry.get(name)
            if runtime.needs_credential:
                source = self.credentials.source(who.user_id, name)
                answer.append(
                    {
                        "name": name,
                        "configured": source is not None,
                        "source": source,
                        "supported_modalities": sorted(runtime.modalities),
                    }
                )
            else:
                local_modalities |= runtime.modalities
        if local_modalities:
            configured = {e.modality for e in self.catalog.list()}
            answer.append(
                {
                    "name": "local",
                    "configured": bool(configured & local_modalities),
                    "source": "local",
                    "supported_modalities": sorted(local_modalities),
                }
            )
        return answer
