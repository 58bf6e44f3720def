"""Generations: status and result, per owner."""

from __future__ import annotations

import json
from typing import Any

from domain.generations import Generation
from infra.sqldb import Cursor, SqlDatabase
from projections.base import Projection, handles
from projections.keys import iso


class GenerationsProjection(Projection):
    name = "generations"
    tables = {
        "generations": "CREATE TABLE IF NOT EXISTS generations (id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, "
        "session_id TEXT, modality TEXT NOT NULL, model TEXT NOT NULL, runtime TEXT NOT NULL, status TEXT NOT NULL, "
        "stream INTEGER NOT NULL, attempt INTEGER NOT NULL DEFAULT 0, output TEXT, usage TEXT, "
        "error TEXT, finish_reason TEXT, latency_ms DOUBLE PRECISION, ttft_ms DOUBLE PRECISION, "
        "created_at TEXT NOT NULL, updated_at TEXT NOT NULL)",
    }
    indexes = (
        "CREATE INDEX IF NOT EXISTS generations_owner ON generations (owner_id, created_at)",
        "CREATE INDEX IF NOT EXISTS generations_status ON generations (status, created_at)",
    )

    @handles(Generation.Requested)
    def requested(self, e: Generation.Requested, cur: Cursor) -> None:
        cur.execute(
            "INSERT INTO generations (id, owner_id, session_id, modality, model, runtime, status, "
            "stream, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, 'queued', %s, %s, %s)",
            (
                str(e.originator_id),
                e.owner_id,
                e.session_id,
                e.modality,
                e.targets[0]["model"],
                e.targets[0]["runtime"],
                int(e.stream),
                iso(e.timestamp),
                iso(e.timestamp),
            ),
        )

    @handles(Generation.Started)
    def started(self, e: Generation.Started, cur: Cursor) -> None:
        cur.execute(
            "UPDATE generations SET status = 'running', attempt = %s, updated_at = %s WHERE id = %s",
            (e.attempt, iso(e.timestamp), str(e.originator_id)),
        )

    @handles(Generation.Completed)
    def completed(self, e: Generation.Completed, cur: Cursor) -> None:
        cur.execute(
            "UPDATE generations SET status = 'completed', model = %s, output = %s, usage = %s, "
            "finish_reason = %s, latency_ms = %s, ttft_ms = %s, updated_at = %s WHERE id = %s",
            (
                e.model,
                json.dumps(e.output),
                json.dumps(e.usage),
                e.finish_reason,
                e.latency_ms,
                e.ttft_ms,
                iso(e.timestamp),
                str(e.originator_id),
            ),
        )

    @handles(Generation.Failed)
    def failed(self, e: Generation.Failed, cur: Cursor) -> None:
        error = {"code": e.code, "message": e.message, "retryable": e.retryable}
        cur.execute(
            "UPDATE generations SET status = 'failed', error = %s, updated_at = %s WHERE id = %s",
            (json.dumps(error), iso(e.timestamp), str(e.originator_id)),
        )

    @handles(Generation.Cancelled)
    def cancelled(self, e: Generation.Cancelled, cur: Cursor) -> None:
        error = {"code": "cancelled", "message": e.reason, "retryable": False}
        cur.execute(
            "UPDATE generations SET status = 'cancelled', error = %s, updated_at = %s WHERE id = %s",
            (json.dumps(error), iso(e.timestamp), str(e.originator_id)),
        )


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    for column in ("output", "usage", "error"):
        if row.get(column) is not None:
            row[column] = json.loads(row[column])
        else:
            row.pop(column, None)
    row["stream"] = bool(row["stream"])
    return row


COLUMNS = (
    "id, session_id, modality, model, status, stream, attempt, output, usage, error, finish_reason, "
    "latency_ms, ttft_ms, created_at, updated_at"
)


def get_generation(db: SqlDatabase, owner_id: str, generation_id: str) -> dict[str, Any] | None:
    rows = db.query(f"SELECT {COLUMNS} FROM generations WHERE id = %s AND owner_id = %s", (generation_id, owner_id))
    return _decode(rows[0]) if rows else None


def running(db: SqlDatabase) -> list[dict[str, Any]]:
    """Generations recorded as running: after an embedded restart, their work died with the in-process bus."""
    return db.query("SELECT id, runtime FROM generations WHERE status = 'running' ORDER BY created_at")


def unstarted(db: SqlDatabase, older_than_iso: str, limit: int = 100) -> list[dict[str, Any]]:
    """Generations requested but never started: the sweeper re-publishes their work."""
    return db.query(
        "SELECT id, runtime FROM generations WHERE status = 'queued' AND updated_at < %s ORDER BY created_at LIMIT %s",
        (older_than_iso, limit),
    )
