"""What a route needs from a request: the use cases, the caller, the JSON body, a ``Last-Event-ID``.

A leaf of ``api/``: it imports no other module of ``api/``, and every route module imports it (never ``api.app``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sanic import Request

from domain.errors import InvalidRequest, MalformedRequest, TooDeep
from domain.validation import check_json
from services.all import Services
from services.auth import Principal


def services(request: Request) -> Services:
    services_: Services = request.app.ctx.services
    return services_


def principal(request: Request) -> Principal:
    who: Principal = request.ctx.principal
    return who


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_body(request: Request, *, optional: bool = False) -> Any:
    """The body as JSON (``{}`` for an empty body when ``optional``), checked once for every route
    (``domain.validation.check_json``): a body that is not UTF-8 JSON (``NaN`` and ``Infinity`` are not), or
    nests too deep, is a 400; text no store can hold is a 400 naming the field. Its size is bounded by the server
    (``LLM_API_MAX_BODY_BYTES``: 413)."""
    body = request.body or b""
    if optional and not body:
        return {}
    if b"\x00" in body:  # UTF-8 JSON never holds a NUL byte (it would be UTF-16 or UTF-32, or not JSON)
        raise MalformedRequest("The request body is not valid JSON: send it as UTF-8.")
    try:
        value = json.loads(body, parse_constant=_no_constant)
    except RecursionError:
        raise TooDeep("The JSON body nests too deeply.") from None
    except (ValueError, UnicodeDecodeError):
        raise MalformedRequest("The request body is not valid JSON.") from None
    check_json(value, body, services(request).settings.max_json_depth)
    return value


def last_event_id(request: Request) -> int:
    """Where a resumed event stream starts: after ``Last-Event-ID`` (or ``?last_event_id=``), 0 from the start."""
    raw = request.headers.get("last-event-id") or request.args.get("last_event_id") or "0"
    try:
        return int(raw)
    except ValueError:
        raise InvalidRequest("Last-Event-ID must be an event id (an integer).", param="Last-Event-ID") from None


def as_of(request: Request) -> datetime | None:
    """``?as_of=`` (ISO 8601; UTC when it names no zone)."""
    raw = request.args.get("as_of")
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest("as_of must be an ISO 8601 time, e.g. 2026-01-24T12:00:00Z.", param="as_of") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def api_key_of(request: Request) -> str | None:
    """``X-API-Key``, or ``Authorization: Bearer`` as the OpenAI SDKs send it."""
    key = request.headers.get("x-api-key")
    if key:
        return str(key).strip()
    authorization = request.headers.get("authorization", "")
    if authorization[:7].lower() == "bearer ":
        return str(authorization[7:]).strip()
    return None
