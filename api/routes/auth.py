"""Signing in to the web app: a password for an expiring API key (``web session``), and signing out."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty
from sanic.response import json as json_response

from api.app import container, fresh, principal
from api.errors import error_response
from api.routes.generate import body_of
from api.schemas import LoginIn, parse
from domain.errors import RateLimited

bp = Blueprint("auth")



@bp.post("/v1/auth/login")
async def login(request: Request) -> HTTPResponse:
    c = container(request)
    body = parse(LoginIn, body_of(request))
    try:
        signed_in = await c.run(c.sign_in.login, body.username, body.password)
    except RateLimited as throttled:  # SDKs retry 429s by themselves: not this one, a person is waiting
        response = error_response(request, throttled)
        response.headers["X-Should-Retry"] = "false"
        return response
    user = signed_in.user
    return json_response({"api_key": signed_in.api_key, "key_id": signed_in.key_id,
                          "expires_at": signed_in.expires_at.isoformat(),
                          "user": {"id": str(user.id), "username": user.username, "is_admin": user.is_admin}})


@bp.post("/v1/auth/logout")
async def logout(request: Request) -> HTTPResponse:
    c, who = container(request), principal(request)
    await c.run(c.sign_in.logout, who.user_id, who.key_id)
    await fresh(c)  # the keys read model shows the revocation before the cache forgets the key
    c.auth.evict_user(who.user_id)
    return empty()
