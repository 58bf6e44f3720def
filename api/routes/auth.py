"""Signing in to the web app: a password for an expiring API key (``web session``), and signing out."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty
from sanic.response import json as json_response

from api.errors import error_response
from api.request import json_body, principal, services
from api.schemas import LoginIn, parse
from domain.errors import RateLimited

bp = Blueprint("auth")


@bp.post("/v1/auth/login")
async def login(request: Request) -> HTTPResponse:
    body = parse(LoginIn, json_body(request))
    try:
        signed_in = await services(request).sign_in.login(body.username, body.password)
    except RateLimited as throttled:  # SDKs retry 429s by themselves: not this one, a person is waiting
        response = error_response(request, throttled)
        response.headers["X-Should-Retry"] = "false"
        return response
    user = signed_in.user
    return json_response(
        {
            "api_key": signed_in.api_key,
            "key_id": signed_in.key_id,
            "expires_at": signed_in.expires_at.isoformat(),
            "user": {"id": str(user.id), "username": user.username, "is_admin": user.is_admin},
        }
    )


@bp.post("/v1/auth/logout")
async def logout(request: Request) -> HTTPResponse:
    await services(request).sign_in.logout(principal(request))
    return empty()
