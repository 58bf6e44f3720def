"""The caller's account: providers, usage, API keys, artifacts; admin user management."""

from __future__ import annotations

import json
from datetime import date

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, file, empty
from sanic.response import json as json_response

from api.app import container, fresh, principal
from api.routes.generate import body_of
from api.schemas import KeyIn, UserIn, parse
from domain.errors import InvalidRequest, NotFound
from projections.keys import list_keys, list_users
from projections.usage import usage_for

bp = Blueprint("account")


@bp.get("/v1/me")
async def me(request: Request) -> HTTPResponse:
    who = principal(request)
    return json_response({"user_id": who.user_id, "username": who.username, "is_admin": who.is_admin,
                          "key_id": who.key_id})


@bp.get("/v1/providers")
async def providers(request: Request) -> HTTPResponse:
    c, who = container(request), principal(request)
    answer, local_modalities = [], set()
    for name in c.registry.names():
        runtime = c.registry.get(name)
        if runtime.needs_credential:
            source = c.credentials.source(who.user_id, name)
            answer.append({"name": name, "configured": source is not None, "source": source,
                           "supported_modalities": sorted(runtime.modalities)})
        else:
            local_modalities |= runtime.modalities
    if local_modalities:
        configured = {e.modality for e in c.catalog.list()}
        answer.append({"name": "local", "configured": bool(configured & local_modalities), "source": "local",
                       "supported_modalities": sorted(local_modalities)})
    return json_response({"providers": answer})


@bp.get("/v1/usage")
async def usage(request: Request) -> HTTPResponse:
    """Per day, provider and model; ``from`` and ``to`` (dates, both included) bound the days."""
    c, who = container(request), principal(request)
    start, end = day_arg(request, "from"), day_arg(request, "to")
    if start and end and start > end:
        raise InvalidRequest("from is after to.", param="from")
    return json_response(await c.run(usage_for, c.db, who.user_id, start, end))


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
    c, who = container(request), principal(request)
    await fresh(c)
    rows = await c.run(list_keys, c.db, who.user_id)
    return json_response({"keys": [{**r, "scopes": json.loads(r["scopes"]), "revoked": bool(r["revoked"])}
                                   for r in rows]})


@bp.post("/v1/keys")
async def issue_key(request: Request) -> HTTPResponse:
    c, who = container(request), principal(request)
    body = parse(KeyIn, body_of(request) if request.body else {})
    key_id, plaintext = await c.run(c.app.issue_api_key, who.user_id, body.name)
    return json_response({"key_id": key_id, "name": body.name, "api_key": plaintext}, status=201)


@bp.delete("/v1/keys/<key_id>")
async def revoke_key(request: Request, key_id: str) -> HTTPResponse:
    c, who = container(request), principal(request)
    await c.run(c.app.revoke_api_key, who.user_id, key_id)
    await fresh(c)  # the keys read model shows the revocation before the cache forgets the key
    c.auth.evict_user(who.user_id)
    return empty()


@bp.get("/v1/artifacts/<artifact_id>")
async def artifact(request: Request, artifact_id: str) -> HTTPResponse:
    c, who = container(request), principal(request)
    found = c.artifacts.get(artifact_id)
    if found is None or found.owner_id != who.user_id or not found.path.is_file():
        raise NotFound(f"No artifact {artifact_id}.")
    return await file(found.path, mime_type=found.mime_type)


@bp.post("/v1/admin/users")
async def create_user(request: Request) -> HTTPResponse:
    c, who = container(request), principal(request)
    who.require_admin()
    body = parse(UserIn, body_of(request))
    user, key_id, plaintext = await c.run(c.app.register_user, body.username, body.password, body.admin)
    return json_response({"user_id": str(user.id), "username": user.username, "is_admin": user.is_admin,
                          "api_key": plaintext, "key_id": key_id}, status=201)


@bp.post("/v1/admin/users/<user_id>/disable")
async def disable_user(request: Request, user_id: str) -> HTTPResponse:
    """Lock a user out (a team member who left): their keys stop working on every process; their history stays."""
    c, who = container(request), principal(request)
    who.require_admin()
    user = await c.run(c.app.disable_user, user_id, who.user_id)
    await fresh(c)  # the keys read model shows the user disabled before the cache forgets their keys
    c.auth.evict_user(user_id)
    return json_response({"user_id": str(user.id), "username": user.username, "is_admin": user.is_admin,
                          "disabled": True})


@bp.get("/v1/admin/users")
async def users(request: Request) -> HTTPResponse:
    c, who = container(request), principal(request)
    who.require_admin()
    await fresh(c)  # read-your-writes: a user just created or disabled is listed as such
    rows = await c.run(list_users, c.db)
    return json_response({"users": [{**r, "is_admin": bool(r["is_admin"]), "disabled": bool(r["disabled"])}
                                    for r in rows]})
