"""Chat sessions: create, list, read (also as of a past time), rename, delete, generate, history."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty
from sanic.response import json as json_response

from api.app import container, fresh, principal
from api.routes.generate import body_of, generate
from api.schemas import SessionIn, SessionPatch, parse
from domain.errors import InvalidRequest, NotFound
from infra.relay import event_data, event_type
from projections import sessions as views

bp = Blueprint("sessions")


def as_of_arg(request: Request) -> datetime | None:
    raw = request.args.get("as_of")
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest("as_of must be an ISO 8601 time, e.g. 2026-01-24T12:00:00Z.", param="as_of") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def session_json(session: Any) -> dict[str, Any]:
    return {"id": str(session.id), "title": session.title, "model": session.model,
            "created_at": session.created_on.isoformat()}


@bp.post("/v1/sessions")
async def create_session(request: Request) -> HTTPResponse:
    c, who = container(request), principal(request)
    body = parse(SessionIn, body_of(request) if request.body else {})
    if body.model is not None:
        c.catalog.resolve(body.model, "text", set(c.registry.names()))
    session = await c.run(c.app.create_session, who.user_id, body.title, body.model)
    return json_response(session_json(session), status=201)


@bp.get("/v1/sessions")
async def list_sessions(request: Request) -> HTTPResponse:
    c, who = container(request), principal(request)
    await fresh(c)
    return json_response({"sessions": await c.run(views.list_sessions, c.db, who.user_id)})


@bp.get("/v1/sessions/<session_id>")
async def get_session(request: Request, session_id: str) -> HTTPResponse:
    c, who = container(request), principal(request)
    as_of = as_of_arg(request)
    if as_of is not None:
        session = await c.run(c.app.session_as_of, who.user_id, session_id, as_of)
        events = await c.run(c.app.stored_events, session_id, as_of)
        stamps = {e.originator_version: e.timestamp for e in events}
        messages = [{**m, "created_at": None} for m in session.messages]
        appended = [e for e in events if event_type(e) == "ChatSession.MessageAppended"]
        for message, event in zip(messages, appended):
            message["created_at"] = stamps[event.originator_version].isoformat()
        return json_response({**session_json(session), "as_of": as_of.isoformat(), "messages": messages})
    await fresh(c)
    row = await c.run(views.get_session, c.db, who.user_id, session_id)
    if row is None:
        raise NotFound(f"No session {session_id}.")
    return json_response(row)


@bp.patch("/v1/sessions/<session_id>")
async def rename_session(request: Request, session_id: str) -> HTTPResponse:
    c, who = container(request), principal(request)
    body = parse(SessionPatch, body_of(request))
    session = await c.run(c.app.rename_session, who.user_id, session_id, body.title)
    return json_response(session_json(session))


@bp.delete("/v1/sessions/<session_id>")
async def delete_session(request: Request, session_id: str) -> HTTPResponse:
    c, who = container(request), principal(request)
    await c.run(c.app.delete_session, who.user_id, session_id)
    return empty()


@bp.post("/v1/sessions/<session_id>/generate")
async def session_generate(request: Request, session_id: str) -> HTTPResponse | None:
    return await generate(request, session_id)


@bp.get("/v1/sessions/<session_id>/history")
async def history(request: Request, session_id: str) -> HTTPResponse:
    """The audit trail: every stored event of the session and of its generations, in order."""
    c, who = container(request), principal(request)
    as_of = as_of_arg(request)

    def collect() -> list[dict[str, Any]]:
        c.app.get_session(session_id, who.user_id, include_deleted=as_of is not None)
        events = c.app.stored_events(session_id, as_of)
        generation_ids = []
        for event in events:
            gid = getattr(event, "generation_id", None)
            if gid and gid not in generation_ids:
                generation_ids.append(gid)
        for gid in generation_ids:
            events += c.app.stored_events(gid, as_of)
        events.sort(key=lambda e: e.timestamp)
        return [{"type": event_type(e), "aggregate_id": str(e.originator_id), "version": e.originator_version,
                 "timestamp": e.timestamp.isoformat(), "data": event_data(e)} for e in events]

    payload = {"session_id": session_id, "events": await c.run(collect)}
    if as_of is not None:
        payload["as_of"] = as_of.isoformat()
    return json_response(payload, default=str)
