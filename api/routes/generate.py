"""``/v1/generate``, generations (status, cancel, events) and the SSE answers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic.response import json as json_response

from api.app import container, fresh, principal
from api.errors import error_response
from api.generation_flow import Watch, stored_outcome, submit
from api.schemas import GenerateIn, parse
from api.sse import format_event, open_stream
from commands.responses import generation_response
from domain.errors import InvalidRequest, MalformedRequest, NotFound, error_from_code
from domain.generations import COMPLETED, TERMINAL
from infra.bus.subjects import cancel_subject, token_subject
from projections.generations import get_generation

bp = Blueprint("generate")


def body_of(request: Request) -> Any:
    try:
        return json.loads(request.body or b"")
    except (ValueError, UnicodeDecodeError):
        raise MalformedRequest("The request body is not valid JSON.") from None


async def generate(request: Request, session_id: str | None = None) -> HTTPResponse | None:
    c, who = container(request), principal(request)
    body = parse(GenerateIn, body_of(request))
    generation = await submit(c, who, body, session_id)
    async with Watch(c, generation) as watch:
        if body.stream:
            await stream_events(request, watch.events(c.settings.request_timeout_s),
                                headers={"X-Generation-ID": watch.gid})
            return None
        async for event in watch.events(c.settings.request_timeout_s):
            if event["event"] == "done":
                return json_response(event["data"], headers={"X-Generation-ID": watch.gid})
            if event["event"] == "error":
                data = event["data"]
                error = error_from_code(data["code"], data["message"], retry_after=data.get("retry_after"))
                return error_response(request, error, request_id=watch.gid)
    raise AssertionError("the event stream ended without an outcome")


async def stream_events(request: Request, events: Any, after: int = 0,
                        headers: dict[str, str] | None = None) -> None:
    response = await open_stream(request, headers)
    async for event in events:
        index = event["i"]
        if index and index <= after and event["event"] not in ("done", "error"):
            continue
        await response.send(format_event(event["event"], event["data"], index or None))
    await response.eof()


@bp.post("/v1/generate")
async def generate_route(request: Request) -> HTTPResponse | None:
    return await generate(request)


@bp.get("/v1/generations/<generation_id>")
async def get_generation_route(request: Request, generation_id: str) -> HTTPResponse:
    c, who = container(request), principal(request)
    await fresh(c)
    row = await c.run(get_generation, c.db, who.user_id, generation_id)
    if row is None:
        raise NotFound(f"No generation {generation_id}.")
    return json_response(row)


@bp.delete("/v1/generations/<generation_id>")
async def cancel_generation_route(request: Request, generation_id: str) -> HTTPResponse:
    c, who = container(request), principal(request)
    generation = await c.run(c.app.cancel_generation, generation_id, who.user_id)
    await c.bus.publish_signal(cancel_subject(generation_id))
    return json_response({"id": generation_id, "status": generation.status})


@bp.get("/v1/generations/<generation_id>/events")
async def replay_route(request: Request, generation_id: str) -> None:
    """The generation's events again, from the start or after ``Last-Event-ID``."""
    c, who = container(request), principal(request)
    generation = await c.run(c.app.get_generation, generation_id, who.user_id)
    raw_after = request.headers.get("last-event-id") or request.args.get("last_event_id") or "0"
    try:
        after = int(raw_after)
    except ValueError:
        raise InvalidRequest("Last-Event-ID must be an event id (an integer).", param="Last-Event-ID") from None
    await stream_events(request, replay(c, generation_id, generation.status in TERMINAL), after,
                        headers={"X-Generation-ID": generation_id})


async def replay(c: Any, gid: str, terminal: bool) -> Any:
    """Stored token events; a finished generation whose token stream expired is rebuilt from its events."""
    source = c.bus.replay(token_subject(gid))
    try:
        while True:
            try:
                raw = await asyncio.wait_for(anext(source), 1.0 if terminal else c.settings.request_timeout_s)
            except asyncio.TimeoutError:
                outcome = await stored_outcome(c, gid)
                if outcome["event"] == "done" and terminal:
                    generation = await c.run(c.app.get_generation, gid)
                    text = generation.result["output"].get("text") if generation.status == COMPLETED else None
                    if text:
                        yield {"i": 1, "event": "token", "data": {"text": text}}
                    outcome["i"] = 2 if text else 1
                    outcome["data"] = generation_response(gid, generation.modality, generation.result)
                yield outcome
                return
            event = json.loads(raw)
            yield event
            if event["event"] in ("done", "error"):
                return
    finally:
        await source.aclose()
