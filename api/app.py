"""The Sanic application: middleware (request ids, auth, metrics), error mapping and the route groups.

The app gets a built :class:`~api.bootstrap.Container` and starts and stops it with the server; its routes see only
the use cases (``request.app.ctx.services``, through ``api.request``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from sanic import Request, Sanic
from sanic.response import BaseHTTPResponse

from api import cors, errors
from api.bootstrap import Container
from api.openai import routes as openai_routes
from api.request import api_key_of, services
from api.routes import account, auth, credentials, generate, jobs, models, sessions, system, webapp
from domain.errors import AuthenticationFailed
from infra import metrics

BLUEPRINTS = (
    system.bp,
    auth.bp,
    generate.bp,
    sessions.bp,
    account.bp,
    credentials.bp,
    models.bp,
    jobs.bp,
    openai_routes.bp,
    webapp.bp,
)
AUTHENTICATED = ("/v1/", "/openai/v1/")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: API routes that need no key: signing in is how a browser gets one.
PUBLIC_PATHS = frozenset({"/v1/auth/login"})


async def authenticate(request: Request) -> None:
    if not request.path.startswith(AUTHENTICATED) or request.path in PUBLIC_PATHS:
        return
    key = api_key_of(request)
    if not key:
        raise AuthenticationFailed("Missing API key: send it in the X-API-Key header.")
    request.ctx.principal = await services(request).auth.authenticate(key)


def create_app(
    container: Container, name: str = "pluggably", configure: Callable[[Sanic], None] | None = None
) -> Sanic:
    settings = container.settings
    app = Sanic(name)
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.RESPONSE_TIMEOUT = max(60, int(settings.request_timeout_s) + 30)
    app.config.REQUEST_MAX_SIZE = settings.max_body_bytes
    app.config.KEEP_ALIVE_TIMEOUT = 75
    app.ctx.services = container.services
    errors.install(app)
    cors.install(app, settings.allowed_origins)

    async def begin(request: Request) -> None:
        request.ctx.t0 = time.perf_counter()
        given = request.headers.get("x-request-id")
        request.ctx.request_id = given if given and len(given) <= 200 else uuid.uuid4().hex
        await authenticate(request)

    async def finish(request: Request, response: BaseHTTPResponse) -> None:
        route = request.route.path if request.route else "unmatched"
        status = response.status if response else 500
        method = request.method if request.method in METHODS else "other"  # a label is never a caller's string
        metrics.REQUESTS.labels(route, method, str(status)).inc()
        t0 = getattr(request.ctx, "t0", None)
        if t0 is not None:
            metrics.LATENCY.labels(route).observe((time.perf_counter() - t0) * 1000)
        if status >= 400:
            metrics.ERRORS.labels(route, str(status)).inc()
        if response is not None:
            response.headers.setdefault("X-Request-ID", getattr(request.ctx, "request_id", ""))

    app.register_middleware(begin, "request", priority=100)
    app.register_middleware(finish, "response")
    for blueprint in BLUEPRINTS:
        app.blueprint(blueprint)

    @app.before_server_start
    async def start(app: Sanic) -> None:
        await container.start()

    @app.after_server_stop
    async def stop(app: Sanic) -> None:
        await container.stop()

    if configure is not None:
        configure(app)
    return app
