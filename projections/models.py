"""The catalogue of local models registered by downloads (``CatalogModel``), for listing and for warming the
in-memory ``runtimes.catalog.Catalog`` of API processes."""

from __future__ import annotations

import json
from typing import Any

from domain.catalog import CatalogModel
from infra.sqldb import Cursor, SqlDatabase
from projections.base import Projection, handles
from projections.keys import iso


class ModelsProjection(Projection):
    name = "models"
    tables = {
        "local_models": "CREATE TABLE IF NOT EXISTS local_models (id TEXT PRIMARY KEY, name TEXT NOT NULL, "
        "version TEXT NOT NULL, modality TEXT NOT NULL, runtime TEXT NOT NULL, "
        "location TEXT NOT NULL, size_bytes BIGINT, source TEXT NOT NULL, "
        "registered_at TEXT NOT NULL)",
    }

    @handles(CatalogModel.Registered, CatalogModel.Reregistered)
    def registered(self, e: CatalogModel.Registered, cur: Cursor) -> None:
        cur.execute("DELETE FROM local_models WHERE id = %s", (e.model_id,))
        cur.execute(
            "INSERT INTO local_models (id, name, version, modality, runtime, location, size_bytes, source, "
            "registered_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                e.model_id,
                e.name,
                e.version,
                e.modality,
                e.runtime,
                e.location,
                e.size_bytes,
                json.dumps(e.source),
                iso(e.timestamp),
            ),
        )

    @handles(CatalogModel.Removed)
    def removed(self, e: CatalogModel.Removed, cur: Cursor) -> None:
        cur.execute("DELETE FROM local_models WHERE id = %s", (e.model_id,))


def list_models(db: SqlDatabase) -> list[dict[str, Any]]:
    rows = db.query(
        "SELECT id, name, version, modality, runtime, location, size_bytes, source, registered_at "
        "FROM local_models ORDER BY id"
    )
    return [{**r, "source": json.loads(r["source"])} for r in rows]
