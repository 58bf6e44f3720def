"""The caller's account: providers, usage, API keys, artifacts; admin user management."""

from __future__ import annotations

from datetime import date

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty, file
from sanic.response import json as json_response

from api.request import json_body, principal, services
from api.schemas import KeyIn, UserIn, parse
from domain.errors import InvalidRequest

bp = Blueprint("account")


@bp.get("/v1/me")
async def me(request: Request) -> HTTPResponse:
    who = principal(request)
    return json_response(
        {"user_id": who.user_id, "username": who.username, "is_admin": who.is_admin, "key_id": who.key_id}
    )


@bp.get("/v1/providers")
async def providers(request: Request) -> HTTPResponse:
    return json_response({"providers": services(request).models.providers(principal(request))})


@bp.get("/v1/usage")
async def usage(request: Request) -> HTTPResponse:
    """Per day, provider and model; ``from`` and ``to`` (dates, both included) bound the days."""
    start, end = day_arg(request, "from"), day_arg(request, "to")
    return json_response(await services(request).accounts.usage(principal(request), start, end))


def day_arg(request: Request, name: str) -> str | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw).isoformat()
    except ValueError:
        raise InvalidRequest(f"{name} must be a date, e.g. 2026-01-24.", param=name) from None


@bp.get("/v1/keys")
async def keys(request: Request) -> HTTPResponse:
    return json_response({"keys": await services(request).accounts.keys(principal(request))})


@bp.post("/v1/keys")
async def issue_key(request: Request) -> HTTPResponse:
    body = parse(KeyIn, json_body(request, optional=True))
    key_id, plaintext = await services(request).accounts.issue_key(principal(request), body.name)
    return json_response({"key_id": key_id, "name": body.name, "api_key": plaintext}, status=201)


@bp.delete("/v1/keys/<key_id>")
async def revoke_key(request: Request, key_id: str) -> HTTPResponse:
    await services(request).accounts.revoke_key(principal(request), key_id)
    return empty()


@bp.get("/v1/artifacts/<artifact_id>")
async def artifact(request: Request, artifact_id: str) -> HTTPResponse:
    found = services(request).accounts.artifact(principal(request), artifact_id)
    return await file(found.path, mime_type=found.mime_type)


@bp.post("/v1/admin/users")
async def create_user(request: Request) -> HTTPResponse:
    body = parse(UserIn, json_body(request))
    user, key_id, plaintext = await services(request).accounts.create_user(
        principal(request), body.username, body.password, body.admin
    )
    return json_response(
        {
            "user_id": str(user.id),
            "username": user.username,
            "is_admin": user.is_admin,
            "api_key": plaintext,
            "key_id": key_id,
        },
        status=201,
    )


@bp.post("/v1/admin/users/<user_id>/disable")
async def disable_user(request: Request, user_id: str) -> HTTPResponse:
    """Lock a user out (a team member who left): their keys stop working on every process; their history stays."""
    user = await services(request).accounts.disable_user(principal(request), user_id)
    return json_response(
        {"user_id": str(user.id), "username": user.username, "is_admin": user.is_admin, "disabled": True}
    )


@bp.get("/v1/admin/users")
async def users(request: Request) -> HTTPResponse:
    return json_response({"users": await services(request).accounts.users(principal(request))})
