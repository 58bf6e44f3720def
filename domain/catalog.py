"""The ``CatalogModel`` aggregate: a local model the gateway knows, registered when its download completed."""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import NotFound


class CatalogModel(Aggregate):
    """The id derives from the catalogue id (``local:<name>``), so a model id names one aggregate."""

    class Registered(Aggregate.Created):
        model_id: str
        name: str
        version: str
        modality: str
        runtime: str
        location: str
        size_bytes: int
        source: dict[str, Any]

    class Reregistered(Aggregate.Event):
        """The same id downloaded again after it was removed (or replaced by a new download)."""

        model_id: str
        name: str
        version: str
        modality: str
        runtime: str
        location: str
        size_bytes: int
        source: dict[str, Any]

    class Removed(Aggregate.Event):
        model_id: str

    @staticmethod
    def create_id(model_id: str, **_: object) -> UUID:
        return uuid5(NAMESPACE_URL, f"pluggably:model:{model_id.lower()}")

    @event(Registered)
    def __init__(
        self,
        model_id: str,
        name: str,
        version: str,
        modality: str,
        runtime: str,
        location: str,
        size_bytes: int,
        source: dict[str, Any],
    ) -> None:
        self._set(model_id, name, version, modality, runtime, location, size_bytes, source)

    def _set(
        self,
        model_id: str,
        name: str,
        version: str,
        modality: str,
        runtime: str,
        location: str,
        size_bytes: int,
        source: dict[str, Any],
    ) -> None:
        self.model_id, self.name, self.model_version, self.modality = model_id, name, version, modality
        self.runtime, self.location, self.size_bytes, self.source = runtime, location, size_bytes, source
        self.removed = False

    @event(Reregistered)
    def register_again(
        self,
        model_id: str,
        name: str,
        version: str,
        modality: str,
        runtime: str,
        location: str,
        size_bytes: int,
        source: dict[str, Any],
    ) -> None:
        self._set(model_id, name, version, modality, runtime, location, size_bytes, source)

    def remove(self) -> None:
        if self.removed:
            raise NotFound(f"No local model {self.model_id}.")
        self._removed(model_id=self.model_id)

    @event(Removed)
    def _removed(self, model_id: str) -> None:
        self.removed = True
