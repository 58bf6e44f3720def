"""Chat sessions: create, list, read (also as of a past time), rename, delete, history. (Generating in a session
is ``POST /v1/sessions/{id}/generate``, in ``generate.py``.)"""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty
from sanic.response import json as json_response

from api.request import as_of, json_body, principal, services
from api.schemas import SessionIn, SessionPatch, parse

bp = Blueprint("sessions")


@bp.post("/v1/sessions")
async def create_session(request: Request) -> HTTPResponse:
    body = parse(SessionIn, json_body(request, optional=True))
    return json_response(
        await services(request).sessions.create(principal(request), body.title, body.model), status=201
    )


@bp.get("/v1/sessions")
async def list_sessions(request: Request) -> HTTPResponse:
    return json_response({"sessions": await services(request).sessions.listing(principal(request))})


@bp.get("/v1/sessions/<session_id>")
async def get_session(request: Request, session_id: str) -> HTTPResponse:
    return json_response(await services(request).sessions.get(principal(request), session_id, as_of(request)))


@bp.patch("/v1/sessions/<session_id>")
async def rename_session(request: Request, session_id: str) -> HTTPResponse:
    body = parse(SessionPatch, json_body(request))
    return json_response(await services(request).sessions.rename(principal(request), session_id, body.title))


@bp.delete("/v1/sessions/<session_id>")
async def delete_session(request: Request, session_id: str) -> HTTPResponse:
    await services(request).sessions.delete(principal(request), session_id)
    return empty()


@bp.get("/v1/sessions/<session_id>/history")
async def history(request: Request, session_id: str) -> HTTPResponse:
    """The audit trail: every stored event of the session and of its generations, in order."""
    payload = await services(request).sessions.history(principal(request), session_id, as_of(request))
    return json_response(payload, default=str)
