"""CORS for browsers on other origins (``LLM_API_CORS_ORIGINS``, comma-separated; ``*`` allows any). The web app
served at ``/`` is same-origin and needs none of it."""

from __future__ import annotations

from sanic import Request, Sanic
from sanic.response import BaseHTTPResponse, HTTPResponse, empty

ALLOW_HEADERS = "Authorization, Content-Type, Last-Event-ID, X-API-Key, X-Request-ID"
EXPOSE_HEADERS = "Retry-After, X-Generation-ID, X-Job-ID, X-Request-ID"
METHODS = "GET, POST, PUT, PATCH, DELETE"


def install(app: Sanic, origins: frozenset[str]) -> None:
    if not origins:
        return

    def allowed(request: Request) -> str | None:
        origin = request.headers.get("origin")
        if origin and ("*" in origins or origin.rstrip("/") in origins):
            return origin
        return None

    async def preflight(request: Request) -> HTTPResponse | None:
        origin = allowed(request)
        if request.method != "OPTIONS" or origin is None or "access-control-request-method" not in request.headers:
            return None
        return empty(
            headers={
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": METHODS,
                "Access-Control-Allow-Headers": ALLOW_HEADERS,
                "Access-Control-Max-Age": "600",
                "Vary": "Origin",
            }
        )

    async def allow(request: Request, response: BaseHTTPResponse) -> None:
        origin = allowed(request)
        if origin is not None and response is not None:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
            response.headers["Vary"] = "Origin"

    app.register_middleware(preflight, "request", priority=200)  # before authentication: a preflight has no key
    app.register_middleware(allow, "response")
