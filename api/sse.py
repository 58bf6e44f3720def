"""Server-sent events: the one frame function, and the streams that carry our events and the OpenAI chunks."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from sanic import Request

from infra.bus.messages import StreamEvent


def sse_frame(data: Any, event: str | None = None, event_id: int | str | None = None) -> str:
    """One SSE message: ``event:`` and ``id:`` when given, then ``data:`` (compact JSON, or the text as is)."""
    lines = [f"event: {event}"] if event is not None else []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append("data: " + (data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))))
    return "\n".join(lines) + "\n\n"


async def open_stream(request: Request, headers: dict[str, str] | None = None) -> Any:
    """Start the SSE response; a comment line goes out at once so the client has the headers immediately."""
    response = await request.respond(
        content_type="text/event-stream",
        headers={
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
            "X-Request-ID": getattr(request.ctx, "request_id", ""),
            **(headers or {}),
        },
    )
    await response.send(": stream open\n\n")
    return response


async def stream_events(
    request: Request, events: AsyncIterator[StreamEvent], after: int = 0, headers: dict[str, str] | None = None
) -> None:
    """Our event stream: each event as ``event:`` + ``id:`` (its number; none for 0) + ``data:``; the events up to
    ``after`` are skipped (a resumed stream), never the last one."""
    response = await open_stream(request, headers)
    async for event in events:
        if event.i and event.i <= after and not event.terminal:
            continue
        await response.send(sse_frame(event.data, event.event, event.i or None))
    await response.eof()
