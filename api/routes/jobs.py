"""Download jobs: status, list, cancel, and their progress over SSE."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic.response import json as json_response

from api.app import container, fresh, principal
from api.bootstrap import Container
from api.routes.generate import stream_events
from commands.responses import job_response
from domain.downloads import RUNNING
from domain.errors import InvalidRequest, NotFound
from infra.bus.subjects import cancel_subject, token_subject
from projections.jobs import get_job, list_jobs
from runtimes.downloads import terminal_event
from runtimes.worker import encode_stream_event

bp = Blueprint("jobs")
CANCEL_WAIT_S = 5.0
QUIET_S = 15.0  # a stream with no news this long sends the job's stored state


def owner_filter(request: Request) -> str | None:
    """Admins see every job; others the ones they requested or joined (asking for a model already downloading)."""
    who = principal(request)
    return None if who.is_admin else who.user_id


@bp.get("/v1/jobs")
async def jobs(request: Request) -> HTTPResponse:
    c, who = container(request), principal(request)
    await fresh(c)
    return json_response({"jobs": await c.run(list_jobs, c.db, who.user_id)})


@bp.get("/v1/jobs/<job_id>")
async def job(request: Request, job_id: str) -> HTTPResponse:
    c = container(request)
    await fresh(c)
    row = await c.run(get_job, c.db, job_id, owner_filter(request))
    if row is None:
        raise NotFound(f"No job {job_id}.")
    return json_response(row)


@bp.delete("/v1/jobs/<job_id>")
async def cancel(request: Request, job_id: str) -> HTTPResponse:
    """Cancel: a queued job at once; a running one is stopped by its worker, which removes the partial files.
    Waits (bounded) for the worker to confirm."""
    c = container(request)
    finished = asyncio.Event()

    async def on_event(subject: str, data: bytes) -> None:
        if json.loads(data)["event"] in ("done", "error"):
            finished.set()

    sub = await c.bus.subscribe(token_subject(job_id), on_event)
    try:
        found = await c.run(c.app.cancel_download, job_id, owner_filter(request))
        if found.status == RUNNING:
            await c.bus.publish_signal(cancel_subject(job_id))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(finished.wait(), CANCEL_WAIT_S)
            found = await c.run(c.app.get_download, job_id)
        elif found.attempt == 0:  # cancelled before any worker took it: tell the job's watchers
            await c.bus.publish(token_subject(job_id), encode_stream_event(1, *terminal_event(found)))
    finally:
        await sub.stop()
    return json_response(job_response(found))


@bp.get("/v1/jobs/<job_id>/events")
async def events(request: Request, job_id: str) -> None:
    """``progress`` events, then ``done`` (the completed job) or ``error``; ``Last-Event-ID`` resumes."""
    c = container(request)
    found = await c.run(c.app.get_download, job_id, owner_filter(request))
    raw_after = request.headers.get("last-event-id") or request.args.get("last_event_id") or "0"
    try:
        after = int(raw_after)
    except ValueError:
        raise InvalidRequest("Last-Event-ID must be an event id (an integer).", param="Last-Event-ID") from None
    await stream_events(request, follow(c, job_id, found.is_terminal), after, headers={"X-Job-ID": job_id})


async def follow(c: Container, job_id: str, terminal: bool) -> AsyncIterator[dict[str, Any]]:
    """The job's stored stream events, then live ones; the job's recorded state when the stream is quiet (a
    finished job whose stream expired, a job waiting for a worker)."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()

    async def pump() -> None:
        async for raw in c.bus.replay(token_subject(job_id)):
            queue.put_nowait(raw)

    task = asyncio.create_task(pump())
    try:
        while True:
            try:
                event = json.loads(await asyncio.wait_for(queue.get(), 1.0 if terminal else QUIET_S))
            except asyncio.TimeoutError:
                job = await c.run(c.app.get_download, job_id)
                if job.is_terminal:
                    name, data = terminal_event(job)
                    yield {"i": 0, "event": name, "data": data}
                    return
                yield {"i": 0, "event": "progress", "data": job_response(job)}
                continue
            yield event
            if event["event"] in ("done", "error"):
                return
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
