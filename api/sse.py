"""Server-sent events: ``event:``, ``id:`` and ``data:`` on every message."""

from __future__ import annotations

import json
from typing import Any

from sanic import Request
from sanic.response import ResponseStream


def format_event(event: str, data: Any, event_id: int | str | None = None) -> str:
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append("data: " + json.dumps(data, separators=(",", ":")))
    return "\n".join(lines) + "\n\n"


async def open_stream(request: Request, headers: dict[str, str] | None = None) -> Any:
    """Start the SSE response; a comment line goes out at once so the client has the headers immediately."""
    response = await request.respond(content_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no",
                                          "X-Request-ID": getattr(request.ctx, "request_id", ""),
                                          **(headers or {})})
    await response.send(": stream open\n\n")
    return response


__all__ = ["format_event", "open_stream", "ResponseStream"]
