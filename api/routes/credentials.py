"""The caller's own provider credentials (the Profile page). Stored encrypted; never shown again but the last 4."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty
from sanic.response import json as json_response

from api.app import container, fresh, principal
from api.routes.generate import body_of
from api.schemas import CredentialIn, parse
from domain.errors import InvalidRequest, NotFound
from domain.users import PROVIDERS
from projections.keys import list_credentials

bp = Blueprint("credentials")


def check_provider(provider: str) -> None:
    if provider not in PROVIDERS:
        raise NotFound(f"Unknown provider {provider!r}; expected one of {', '.join(PROVIDERS)}.", param="provider")


@bp.put("/v1/me/credentials/<provider>")
async def set_credential(request: Request, provider: str) -> HTTPResponse:
    c, who = container(request), principal(request)
    check_provider(provider)
    body = parse(CredentialIn, body_of(request))
    if provider != "azure" and (body.endpoint or body.api_version):
        raise InvalidRequest("endpoint and api_version are for azure only.", param="endpoint")
    if provider == "azure" and not (body.endpoint or c.settings.azure_openai_endpoint):
        raise InvalidRequest("Azure needs an endpoint: give \"endpoint\" (https://<resource>.openai.azure.com).",
                             param="endpoint")
    ciphertext = await c.run(c.vault.encrypt, who.user_id, body.api_key)
    await c.run(c.app.set_provider_credential, who.user_id, provider, ciphertext, body.api_key[-4:],
                body.endpoint, body.api_version)
    c.forget_credentials(who.user_id)
    return json_response({"provider": provider, "last4": body.api_key[-4:], "endpoint": body.endpoint,
                          "api_version": body.api_version})


@bp.get("/v1/me/credentials")
async def get_credentials(request: Request) -> HTTPResponse:
    c, who = container(request), principal(request)
    await fresh(c)
    return json_response({"credentials": await c.run(list_credentials, c.db, who.user_id)})


@bp.delete("/v1/me/credentials/<provider>")
async def delete_credential(request: Request, provider: str) -> HTTPResponse:
    c, who = container(request), principal(request)
    check_provider(provider)
    await c.run(c.app.remove_provider_credential, who.user_id, provider)
    c.forget_credentials(who.user_id)
    return empty()


@bp.delete("/v1/admin/users/<user_id>/secrets")
async def shred_secrets(request: Request, user_id: str) -> HTTPResponse:
    """Crypto-shredding: erase the user's data key; their stored credentials become unreadable for good."""
    c, who = container(request), principal(request)
    who.require_admin()
    user = await c.run(c.app.get_user, user_id)
    await c.run(c.vault.shred, user_id)
    for provider in list(user.credentials):  # unreadable now: take them off the user's list too
        await c.run(c.app.remove_provider_credential, user_id, provider)
    c.forget_credentials(user_id)
    return empty()
