"""``/v1/generate``, sessions' generate, and a generation's status, cancel and events."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic.response import json as json_response

from api.errors import body_response
from api.request import json_body, last_event_id, principal, services
from api.schemas import GenerateIn, parse
from api.sse import stream_events
from infra.bus.messages import DONE

bp = Blueprint("generate")


async def generate(request: Request, session_id: str | None = None) -> HTTPResponse | None:
    """The answer as JSON, or every event as SSE (``"stream": true``)."""
    order = parse(GenerateIn, json_body(request)).order()
    generations = services(request).generations
    generation = await generations.submit(principal(request), order, session_id)
    async with generations.follow(generation) as run:
        headers = {"X-Generation-ID": run.gid}
        if order.stream:
            await stream_events(request, run.events(), headers=headers)
            return None
        outcome = await run.outcome()
    if outcome.event == DONE:
        return json_response(outcome.data, headers=headers)
    return body_response(outcome.data)


@bp.post("/v1/generate")
async def generate_route(request: Request) -> HTTPResponse | None:
    return await generate(request)


@bp.post("/v1/sessions/<session_id>/generate")
async def session_generate(request: Request, session_id: str) -> HTTPResponse | None:
    return await generate(request, session_id)


@bp.get("/v1/generations/<generation_id>")
async def get_generation(request: Request, generation_id: str) -> HTTPResponse:
    return json_response(await services(request).generations.get(principal(request), generation_id))


@bp.delete("/v1/generations/<generation_id>")
async def cancel_generation(request: Request, generation_id: str) -> HTTPResponse:
    generation = await services(request).generations.cancel(principal(request), generation_id)
    return json_response({"id": generation_id, "status": generation.status})


@bp.get("/v1/generations/<generation_id>/events")
async def replay(request: Request, generation_id: str) -> None:
    """The generation's events again, from the start or after ``Last-Event-ID``."""
    events = await services(request).generations.replay(principal(request), generation_id)
    await stream_events(request, events, last_event_id(request), headers={"X-Generation-ID": generation_id})
