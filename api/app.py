"""The Sanic application: middleware (request ids, auth, metrics), error mapping and the route groups."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from sanic import Request, Sanic
from sanic.response import HTTPResponse

from api import cors, errors
from api.auth import Principal
from api.bootstrap import Container
from domain.errors import AuthenticationFailed
from infra import metrics


#: API routes that need no key: signing in is how a browser gets one.
PUBLIC_PATHS = frozenset({"/v1/auth/login"})


def container(request: Request) -> Container:
    return request.app.ctx.container


def principal(request: Request) -> Principal:
    return request.ctx.principal


async def fresh(c: Container) -> bool:
    """Read-your-writes: wait (bounded) until the projections reached the event store's head; whether they did."""
    return await c.run(c.projector.wait_for, await c.run(c.projector.head), c.settings.read_your_writes_timeout_s)


def api_key_of(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key.strip()
    authorization = request.headers.get("authorization", "")
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return None


async def authenticate(request: Request) -> None:
    path = request.path
    if not (path.startswith("/v1/") or path.startswith("/openai/v1/")) or path in PUBLIC_PATHS:
        return
    key = api_key_of(request)
    if not key:
        raise AuthenticationFailed("Missing API key: send it in the X-API-Key header.")
    c = container(request)
    key_hash, found = c.auth.cached(key)
    if found is None:
        found = await c.run(c.auth.load, key_hash)
    request.ctx.principal = c.auth.check(found)


def create_app(c: Container, name: str = "pluggably", configure: Callable[[Sanic], None] | None = None) -> Sanic:
    app = Sanic(name)
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.RESPONSE_TIMEOUT = max(60, int(c.settings.request_timeout_s) + 30)
    app.config.REQUEST_MAX_SIZE = 32 * 1024 * 1024
    app.config.KEEP_ALIVE_TIMEOUT = 75
    app.ctx.container = c
    errors.install(app)
    cors.install(app, c.settings.allowed_origins)

    @app.on_request(priority=100)
    async def begin(request: Request) -> None:
        request.ctx.t0 = time.perf_counter()
        request.ctx.request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        await authenticate(request)

    @app.on_response
    async def finish(request: Request, response: HTTPResponse) -> None:
        route = request.route.path if request.route else "unmatched"
        status = response.status if response else 500
        metrics.REQUESTS.labels(route, request.method, str(status)).inc()
        t0 = getattr(request.ctx, "t0", None)
        if t0 is not None:
            metrics.LATENCY.labels(route).observe((time.perf_counter() - t0) * 1000)
        if status >= 400:
            metrics.ERRORS.labels(route, str(status)).inc()
        if response is not None:
            response.headers.setdefault("X-Request-ID", getattr(request.ctx, "request_id", ""))

    from api.routes import account, auth, credentials, generate, jobs, models, openai_compat, sessions, system, webapp

    for module in (system, auth, generate, sessions, account, credentials, models, jobs, openai_compat, webapp):
        app.blueprint(module.bp)

    @app.before_server_start
    async def start(app: Sanic) -> None:
        await app.ctx.container.start()

    @app.after_server_stop
    async def stop(app: Sanic) -> None:
        await app.ctx.container.stop()

    if configure is not None:
        configure(app)
    return app
