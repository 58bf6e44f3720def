"""The caller's own provider credentials (the Profile page). Stored encrypted; never shown again but the last 4."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty
from sanic.response import json as json_response

from api.request import json_body, principal, services
from api.schemas import CredentialIn, parse

bp = Blueprint("credentials")


@bp.put("/v1/me/credentials/<provider>")
async def set_credential(request: Request, provider: str) -> HTTPResponse:
    body = parse(CredentialIn, json_body(request))
    saved = await services(request).credentials.save(
        principal(request), provider, body.api_key, body.endpoint, body.api_version
    )
    return json_response(saved)


@bp.get("/v1/me/credentials")
async def get_credentials(request: Request) -> HTTPResponse:
    return json_response({"credentials": await services(request).credentials.listing(principal(request))})


@bp.delete("/v1/me/credentials/<provider>")
async def delete_credential(request: Request, provider: str) -> HTTPResponse:
    await services(request).credentials.remove(principal(request), provider)
    return empty()


@bp.delete("/v1/admin/users/<user_id>/secrets")
async def shred_secrets(request: Request, user_id: str) -> HTTPResponse:
    """Crypto-shredding: erase the user's data key; their stored credentials become unreadable for good."""
    await services(request).credentials.shred(principal(request), user_id)
    return empty()
