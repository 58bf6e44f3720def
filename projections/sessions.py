"""Chat sessions and their messages, per owner."""

from __future__ import annotations

from typing import Any

from domain.sessions import ChatSession
from infra.sqldb import Cursor, SqlDatabase
from projections.base import Projection, handles
from projections.keys import iso


class SessionsProjection(Projection):
    name = "sessions"
    tables = {
        "sessions": "CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, "
        "title TEXT NOT NULL, model TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, "
        "message_count INTEGER NOT NULL DEFAULT 0, deleted INTEGER NOT NULL DEFAULT 0)",
        "session_messages": "CREATE TABLE IF NOT EXISTS session_messages (session_id TEXT NOT NULL, "
        "seq INTEGER NOT NULL, role TEXT NOT NULL, content TEXT NOT NULL, generation_id TEXT, "
        "created_at TEXT NOT NULL, PRIMARY KEY (session_id, seq))",
    }
    indexes = ("CREATE INDEX IF NOT EXISTS sessions_owner ON sessions (owner_id, created_at)",)

    @handles(ChatSession.Started)
    def started(self, e: ChatSession.Started, cur: Cursor) -> None:
        cur.execute(
            "INSERT INTO sessions (id, owner_id, title, model, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s)",
            (str(e.originator_id), e.owner_id, e.title, e.model, iso(e.timestamp), iso(e.timestamp)),
        )

    @handles(ChatSession.MessageAppended)
    def message_appended(self, e: ChatSession.MessageAppended, cur: Cursor) -> None:
        sid = str(e.originator_id)
        cur.execute(
            "INSERT INTO session_messages (session_id, seq, role, content, generation_id, created_at) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (sid, e.originator_version, e.role, e.content, e.generation_id, iso(e.timestamp)),
        )
        cur.execute(
            "UPDATE sessions SET updated_at = %s, message_count = message_count + 1 WHERE id = %s",
            (iso(e.timestamp), sid),
        )

    @handles(ChatSession.Renamed)
    def renamed(self, e: ChatSession.Renamed, cur: Cursor) -> None:
        cur.execute(
            "UPDATE sessions SET title = %s, updated_at = %s WHERE id = %s",
            (e.title, iso(e.timestamp), str(e.originator_id)),
        )

    @handles(ChatSession.Deleted)
    def deleted(self, e: ChatSession.Deleted, cur: Cursor) -> None:
        cur.execute(
            "UPDATE sessions SET deleted = 1, updated_at = %s WHERE id = %s", (iso(e.timestamp), str(e.originator_id))
        )


def list_sessions(db: SqlDatabase, owner_id: str) -> list[dict[str, Any]]:
    return db.query(
        "SELECT id, title, model, created_at, updated_at, message_count FROM sessions "
        "WHERE owner_id = %s AND deleted = 0 ORDER BY created_at DESC",
        (owner_id,),
    )


def get_session(db: SqlDatabase, owner_id: str, session_id: str) -> dict[str, Any] | None:
    rows = db.query(
        "SELECT id, title, model, created_at, updated_at, message_count FROM sessions "
        "WHERE id = %s AND owner_id = %s AND deleted = 0",
        (session_id, owner_id),
    )
    if not rows:
        return None
    session = rows[0]
    session["messages"] = db.query(
        "SELECT role, content, generation_id, created_at FROM session_messages WHERE session_id = %s ORDER BY seq",
        (session_id,),
    )
    return session
