"""Download jobs: status, list, cancel, and their progress over SSE."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic.response import json as json_response

from api.request import last_event_id, principal, services
from api.sse import stream_events
from commands.responses import job_response

bp = Blueprint("jobs")


@bp.get("/v1/jobs")
async def jobs(request: Request) -> HTTPResponse:
    return json_response({"jobs": await services(request).downloads.listing(principal(request))})


@bp.get("/v1/jobs/<job_id>")
async def job(request: Request, job_id: str) -> HTTPResponse:
    return json_response(await services(request).downloads.get(principal(request), job_id))


@bp.delete("/v1/jobs/<job_id>")
async def cancel(request: Request, job_id: str) -> HTTPResponse:
    """Cancel: a queued job at once; a running one is stopped by its worker, which removes the partial files."""
    return json_response(job_response(await services(request).downloads.cancel(principal(request), job_id)))


@bp.get("/v1/jobs/<job_id>/events")
async def events(request: Request, job_id: str) -> None:
    """``progress`` events, then ``done`` (the completed job) or ``error``; ``Last-Event-ID`` resumes."""
    follow = await services(request).downloads.follow(principal(request), job_id)
    await stream_events(request, follow, last_event_id(request), headers={"X-Job-ID": job_id})
