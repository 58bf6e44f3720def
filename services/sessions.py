"""Chat sessions: create, list, read (also as of a past time), rename, delete, and their audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from commands.service import Gateway
from domain.errors import NotFound
from domain.sessions import ChatSession
from infra.bus.messages import event_data, event_type
from infra.sqldb import SqlDatabase
from infra.threads import Threads
from projections import sessions as views
from runtimes.catalog import Catalog
from runtimes.registry import RuntimeRegistry
from services.auth import Principal
from services.freshness import Freshness


def session_json(session: ChatSession) -> dict[str, Any]:
    return {
        "id": str(session.id),
        "title": session.title,
        "model": session.model,
        "created_at": session.created_on.isoformat(),
    }


class Sessions:
    def __init__(
        self,
        app: Gateway,
        db: SqlDatabase,
        catalog: Catalog,
        registry: RuntimeRegistry,
        threads: Threads,
        freshness: Freshness,
    ) -> None:
        self.app, self.db, self.catalog, self.registry = app, db, catalog, registry
        self.threads, self.freshness = threads, freshness

    async def create(self, who: Principal, title: str | None, model: str | None) -> dict[str, Any]:
        if model is not None:
            self.catalog.resolve(model, "text", set(self.registry.names()))
        session = await self.threads.run(self.app.create_session, who.user_id, title, model)
        return session_json(session)

    async def listing(self, who: Principal) -> list[dict[str, Any]]:
        await self.freshness.wait()
        return await self.threads.run(views.list_sessions, self.db, who.user_id)

    async def get(self, who: Principal, session_id: str, as_of: datetime | None = None) -> dict[str, Any]:
        if as_of is not None:
            return await self.threads.run(self._as_of, who, session_id, as_of)
        await self.freshness.wait()
        row = await self.threads.run(views.get_session, self.db, who.user_id, session_id)
        if row is None:
            raise NotFound(f"No session {session_id}.")
        return row

    def _as_of(self, who: Principal, session_id: str, as_of: datetime) -> dict[str, Any]:
        """The session as it was at ``as_of``, from the event store (a session deleted since can be audited)."""
        session = self.app.session_as_of(who.user_id, session_id, as_of)
        events = self.app.stored_events(session_id, as_of)
        stamps = {e.originator_version: e.timestamp for e in events}
        messages = [{**m, "created_at": None} for m in session.messages]
        appended = [e for e in events if isinstance(e, ChatSession.MessageAppended)]
        for message, event in zip(messages, appended, strict=False):
            message["created_at"] = stamps[event.originator_version].isoformat()
        return {**session_json(session), "as_of": as_of.isoformat(), "messages": messages}

    async def rename(self, who: Principal, session_id: str, title: str) -> dict[str, Any]:
        return session_json(await self.threads.run(self.app.rename_session, who.user_id, session_id, title))

    async def delete(self, who: Principal, session_id: str) -> None:
        await self.threads.run(self.app.delete_session, who.user_id, session_id)

    async def history(self, who: Principal, session_id: str, as_of: datetime | None = None) -> dict[str, Any]:
        """The audit trail: every stored event of the session and of its generations, in order."""
        payload: dict[str, Any] = {
            "session_id": session_id,
            "events": await self.threads.run(self._history, who, session_id, as_of),
        }
        if as_of is not None:
            payload["as_of"] = as_of.isoformat()
        return payload

    def _history(self, who: Principal, session_id: str, as_of: datetime | None) -> list[dict[str, Any]]:
        self.app.get_session(session_id, who.user_id, include_deleted=as_of is not None)
        events = self.app.stored_events(session_id, as_of)
        generation_ids: list[str] = []
        for event in events:
            gid = getattr(event, "generation_id", None)
            if gid and gid not in generation_ids:
                generation_ids.append(gid)
        for gid in generation_ids:
            events += self.app.stored_events(gid, as_of)
        events.sort(key=lambda e: e.timestamp)
        return [
            {
                "type": event_type(e),
                "aggregate_id": str(e.originator_id),
                "version": e.originator_version,
                "timestamp": e.timestamp.isoformat(),
                "data": event_data(e),
            }
            for e in events
        ]
