"""The model catalogue (local and provider models), hub search and model downloads."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic.response import json as json_response

from api.app import container, fresh, principal
from api.auth import Principal
from api.bootstrap import Container
from api.routes.generate import body_of
from api.schemas import DownloadIn, ModelSearchIn, parse
from commands.responses import job_response
from domain.downloads import ACTIVE
from domain.errors import InvalidRequest, PermissionDenied
from infra.bus.subjects import DOWNLOAD_SUBJECT
from projections.jobs import active_jobs
from runtimes.catalog import local_id, provider_entries

bp = Blueprint("models")
FIELDS = ("id", "name", "version", "modality", "runtime", "local", "size_bytes", "status")


@bp.get("/v1/models")
async def models(request: Request) -> HTTPResponse:
    """Local models (configured, downloaded, downloading) and the models of the providers the caller can use."""
    c, who = container(request), principal(request)
    modality = request.args.get("modality")
    if modality is not None and modality not in ("text", "image", "3d"):
        raise InvalidRequest("modality must be text, image or 3d.", param="modality")
    return json_response({"models": await catalogue(c, who, modality)})


async def catalogue(c: Container, who: Principal, modality: str | None = None) -> list[dict[str, Any]]:
    """The listing of ``GET /v1/models`` (also ``GET /openai/v1/models``). Read-your-writes like the jobs beside
    it: the local models come from the models view (this process's catalogue hears of new and removed models
    through the relay, which may lag), with the models this host's settings configure."""
    caught_up = await fresh(c)
    local = {e.id: e for e in await c.run(c.registered_models)}
    if not caught_up:  # the view may lack what the relay brought already: list both (the catalogue is unchanged)
        local = {e.id: e for e in c.catalog.list()} | local
    configured = {e.id: e for e in c.catalog.configured}  # this host's defaults first
    entries = [*configured.values(), *(e for model_id, e in local.items() if model_id not in configured)]
    for name in c.registry.names():
        runtime = c.registry.get(name)
        if runtime.needs_credential and await c.run(c.credentials.source, who.user_id, name) is not None:
            entries += provider_entries(name, runtime.modalities)
    answer = [{k: v for k, v in e.as_dict().items() if k in FIELDS} for e in entries
              if modality is None or e.modality == modality]
    known = {m["id"] for m in answer}
    for job in await c.run(active_jobs, c.db):
        spec = job["model"]
        if job["model_id"] not in known and (modality is None or spec["modality"] == modality):
            answer.append({"id": job["model_id"], "name": spec["name"], "version": spec["version"],
                           "modality": spec["modality"], "runtime": None, "local": True,
                           "size_bytes": job["bytes_total"], "status": "downloading"})
    return answer


@bp.delete("/v1/models/<model_id>")
async def remove(request: Request, model_id: str) -> HTTPResponse:
    """An admin removes a downloaded model: it leaves the catalogue at once; the download workers, which own the
    models directory, delete its files when the removal reaches them."""
    c, who = container(request), principal(request)
    if not who.is_admin:
        raise PermissionDenied("Removing a model needs an admin's API key.")
    model_id = unquote(model_id)  # clients may send local%3Aname
    prefix, sep, name = model_id.partition(":")
    if sep and prefix != "local":
        raise InvalidRequest(f"Only local models can be removed; {model_id} is a provider's.", param="model_id")
    removed = await c.run(c.app.remove_model, local_id(name if sep else model_id))
    c.catalog.remove(removed.model_id)
    return json_response({"id": removed.model_id, "deleted": True})


@bp.get("/v1/models/search")
async def search(request: Request) -> HTTPResponse:
    c = container(request)
    query = parse(ModelSearchIn, {k: request.args.get(k) for k in request.args})
    results, next_cursor = await c.run(c.hub().search, query.query, query.modality, query.cursor, query.limit)
    return json_response({"results": results, "next_cursor": next_cursor})


@bp.post("/v1/models/download")
async def download(request: Request) -> HTTPResponse:
    """202 with a new job; the job already running for that model (202), or the completed one (200)."""
    c, who = container(request), principal(request)
    if not (who.is_admin or c.settings.allow_user_downloads):
        raise PermissionDenied("Downloading models needs an admin's API key (the operator can open downloads to "
                               "every user with LLM_API_ALLOW_USER_DOWNLOADS=true).")
    body = parse(DownloadIn, body_of(request))
    model_id = f"local:{body.model.id}"
    job = await c.run(c.app.join_download, model_id, body.source.id, who.user_id)
    if job is None:
        # The plan pins the revision to a commit and lists the files: an unknown repository or revision, or no
        # file matching allow_patterns, is answered here, before anything is recorded or written.
        plan = await c.run(c.hub().plan, body.source.id, body.options.revision, body.options.allow_patterns)
        spec = {"id": body.model.id, "name": body.model.name or body.model.id,
                "version": body.model.version or body.options.revision, "modality": body.model.modality}
        job, created = await c.run(c.app.request_download, owner_id=who.user_id, model_id=model_id, model=spec,
                                   source=body.source.model_dump(), options=body.options.model_dump(),
                                   plan=plan.to_dict())
        if created:
            await c.bus.publish(DOWNLOAD_SUBJECT, json.dumps({"job_id": str(job.id)}).encode(), msg_id=str(job.id))
    return json_response(job_response(job), status=202 if job.status in ACTIVE else 200)
