"""Download jobs: status and progress, per owner; the sweeper's list of jobs to (re)deliver."""

from __future__ import annotations

import json
from typing import Any

from domain.downloads import DownloadJob
from infra.sqldb import Cursor, SqlDatabase
from projections.base import Projection, handles
from projections.keys import iso


class JobsProjection(Projection):
    name = "jobs"
    tables = {
        "download_jobs": "CREATE TABLE IF NOT EXISTS download_jobs (id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, "
        "model_id TEXT NOT NULL, model TEXT NOT NULL, source TEXT NOT NULL, status TEXT NOT NULL, "
        "attempt INTEGER NOT NULL DEFAULT 0, bytes_done BIGINT NOT NULL DEFAULT 0, "
        "bytes_total BIGINT NOT NULL DEFAULT 0, current_file TEXT, error TEXT, "
        "created_at TEXT NOT NULL, updated_at TEXT NOT NULL)",
        # users who asked for a model while another user's job was downloading it: they follow that job
        "download_job_watchers": "CREATE TABLE IF NOT EXISTS download_job_watchers (job_id TEXT NOT NULL, "
        "user_id TEXT NOT NULL, joined_at TEXT NOT NULL, PRIMARY KEY (user_id, job_id))",
    }
    indexes = (
        "CREATE INDEX IF NOT EXISTS download_jobs_owner ON download_jobs (owner_id, created_at)",
        "CREATE INDEX IF NOT EXISTS download_jobs_status ON download_jobs (status, created_at)",
        "CREATE INDEX IF NOT EXISTS download_jobs_model ON download_jobs (model_id, status)",
    )

    @handles(DownloadJob.Requested)
    def requested(self, e: DownloadJob.Requested, cur: Cursor) -> None:
        total = sum(int(f["size"]) for f in e.plan.get("files", []))
        cur.execute(
            "INSERT INTO download_jobs (id, owner_id, model_id, model, source, status, bytes_total, "
            "created_at, updated_at) VALUES (%s, %s, %s, %s, %s, 'queued', %s, %s, %s)",
            (
                str(e.originator_id),
                e.owner_id,
                e.model_id,
                json.dumps(e.model),
                json.dumps(e.source),
                total,
                iso(e.timestamp),
                iso(e.timestamp),
            ),
        )

    @handles(DownloadJob.Joined)
    def joined(self, e: DownloadJob.Joined, cur: Cursor) -> None:
        cur.execute(
            "INSERT INTO download_job_watchers (job_id, user_id, joined_at) VALUES (%s, %s, %s)",
            (str(e.originator_id), e.user_id, iso(e.timestamp)),
        )
        cur.execute("UPDATE download_jobs SET updated_at = %s WHERE id = %s", (iso(e.timestamp), str(e.originator_id)))

    def _update(self, e: Any, cur: Cursor, assignments: str, params: tuple) -> None:
        cur.execute(
            f"UPDATE download_jobs SET {assignments}, updated_at = %s WHERE id = %s",
            (*params, iso(e.timestamp), str(e.originator_id)),
        )

    @handles(DownloadJob.Started)
    def started(self, e: DownloadJob.Started, cur: Cursor) -> None:
        self._update(e, cur, "status = 'running', attempt = %s", (e.attempt,))

    @handles(DownloadJob.Progressed)
    def progressed(self, e: DownloadJob.Progressed, cur: Cursor) -> None:
        self._update(
            e,
            cur,
            "bytes_done = %s, bytes_total = %s, current_file = %s",
            (e.bytes_done, e.bytes_total, e.current_file),
        )

    @handles(DownloadJob.Completed)
    def completed(self, e: DownloadJob.Completed, cur: Cursor) -> None:
        self._update(
            e,
            cur,
            "status = 'completed', bytes_done = %s, bytes_total = %s, current_file = NULL",
            (e.size_bytes, e.size_bytes),
        )

    @handles(DownloadJob.Failed)
    def failed(self, e: DownloadJob.Failed, cur: Cursor) -> None:
        self._update(e, cur, "status = 'failed', error = %s", (json.dumps({"code": e.code, "message": e.message}),))

    @handles(DownloadJob.Cancelled)
    def cancelled(self, e: DownloadJob.Cancelled, cur: Cursor) -> None:
        self._update(
            e, cur, "status = 'cancelled', error = %s", (json.dumps({"code": "cancelled", "message": e.reason}),)
        )


COLUMNS = (
    "id, model_id, model, source, status, attempt, bytes_done, bytes_total, current_file, error, created_at, updated_at"
)


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    done, total = int(row["bytes_done"]), int(row["bytes_total"])
    pct = 100.0 if row["status"] == "completed" else (round(100.0 * done / total, 1) if total else 0.0)
    return {
        "job_id": row["id"],
        "model_id": row["model_id"],
        "model": json.loads(row["model"]),
        "source": json.loads(row["source"]),
        "status": row["status"],
        "progress_pct": pct,
        "bytes_done": done,
        "bytes_total": total,
        "current_file": row["current_file"],
        "error": json.loads(row["error"]) if row["error"] else None,
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


VISIBLE = "(owner_id = %s OR id IN (SELECT job_id FROM download_job_watchers WHERE user_id = %s))"


def get_job(db: SqlDatabase, job_id: str, viewer_id: str | None) -> dict[str, Any] | None:
    """``viewer_id`` None: any job (admins); else one the user requested or joined."""
    if viewer_id is None:
        rows = db.query(f"SELECT {COLUMNS} FROM download_jobs WHERE id = %s", (job_id,))
    else:
        rows = db.query(
            f"SELECT {COLUMNS} FROM download_jobs WHERE id = %s AND {VISIBLE}", (job_id, viewer_id, viewer_id)
        )
    return _decode(rows[0]) if rows else None


def list_jobs(db: SqlDatabase, user_id: str, limit: int = 100) -> list[dict[str, Any]]:
    """The jobs the user requested or joined, newest first."""
    rows = db.query(
        f"SELECT {COLUMNS} FROM download_jobs WHERE {VISIBLE} ORDER BY created_at DESC LIMIT %s",
        (user_id, user_id, limit),
    )
    return [_decode(r) for r in rows]


def active_jobs(db: SqlDatabase) -> list[dict[str, Any]]:
    rows = db.query(f"SELECT {COLUMNS} FROM download_jobs WHERE status IN ('queued', 'running') ORDER BY created_at")
    return [_decode(r) for r in rows]


def unstarted_jobs(db: SqlDatabase, older_than_iso: str, limit: int = 100) -> list[dict[str, Any]]:
    """Jobs requested but never started: the sweeper re-publishes their work."""
    return db.query(
        "SELECT id FROM download_jobs WHERE status = 'queued' AND updated_at < %s ORDER BY created_at LIMIT %s",
        (older_than_iso, limit),
    )
