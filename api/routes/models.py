"""The model catalogue (local and provider models), hub search and model downloads."""

from __future__ import annotations

from urllib.parse import unquote

from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic.response import json as json_response

from api.request import json_body, principal, services
from api.schemas import DownloadIn, ModelSearchIn, parse
from commands.responses import job_response

bp = Blueprint("models")


@bp.get("/v1/models")
async def models(request: Request) -> HTTPResponse:
    """Local models (configured, downloaded, downloading) and the models of the providers the caller can use."""
    listing = await services(request).models.listing(principal(request), request.args.get("modality"))
    return json_response({"models": listing})


@bp.delete("/v1/models/<model_id>")
async def remove(request: Request, model_id: str) -> HTTPResponse:
    """An admin removes a downloaded model (``local:<id>``; clients may send ``local%3A<id>``)."""
    removed = await services(request).models.remove(principal(request), unquote(model_id))
    return json_response({"id": removed, "deleted": True})


@bp.get("/v1/models/search")
async def search(request: Request) -> HTTPResponse:
    query = parse(ModelSearchIn, {k: request.args.get(k) for k in request.args})
    results, next_cursor = await services(request).downloads.search(
        query.query, query.modality, query.cursor, query.limit
    )
    return json_response({"results": results, "next_cursor": next_cursor})


@bp.post("/v1/models/download")
async def download(request: Request) -> HTTPResponse:
    """202 with a new job; the job already running for that model (202), or the completed one (200)."""
    order = parse(DownloadIn, json_body(request)).order()
    job, pending = await services(request).downloads.request(principal(request), order)
    return json_response(job_response(job), status=202 if pending else 200)
