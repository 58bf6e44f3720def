"""The one place where errors become HTTP: ``{"error": {"code", "message", "type", "param", "request_id"}}``.

The body itself is built by ``domain.errors.error_body`` (for the bus and SSE alike); here it gets its status.
"""

from __future__ import annotations

import logging
from typing import Any

from sanic import Request, Sanic
from sanic.exceptions import SanicException
from sanic.response import HTTPResponse, json

from domain import errors as e

log = logging.getLogger(__name__)

STATUS: list[tuple[type[e.GatewayError], int]] = [
    (e.UnknownModel, 404),
    (e.PayloadTooLarge, 413),
    (e.MalformedRequest, 400),
    (e.ProviderNotConfigured, 400),
    (e.InvalidRequest, 422),
    (e.AuthenticationFailed, 401),
    (e.PermissionDenied, 403),
    (e.RateLimited, 429),
    (e.NotFound, 404),
    (e.Conflict, 409),
    (e.GenerationCancelled, 409),
    (e.StillRunning, 504),
    (e.ServiceUnavailable, 503),
    (e.ProviderRejected, 400),
    (e.ProviderAuthFailed, 502),
    (e.ProviderRateLimited, 429),
    (e.ProviderTimeout, 504),
    (e.ProviderUnavailable, 502),
    (e.RuntimeFailure, 500),
    (e.ProviderError, 502),
]

SANIC_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
    415: "unsupported_media_type",
    503: "unavailable",
}
SERVER_FAILED = "The server failed; the request id identifies it in the logs."


def status_of(error: type[e.GatewayError] | e.GatewayError) -> int:
    cls = error if isinstance(error, type) else type(error)
    for known, status in STATUS:
        if issubclass(cls, known):
            return status
    return 500


def request_id_of(request: Request) -> str:
    return getattr(request.ctx, "request_id", None) or ""


def body_response(body: dict[str, Any], status: int | None = None) -> HTTPResponse:
    """An error body (``error_body``'s shape, e.g. a generation's ``error`` event) as the HTTP answer; its status
    from its code unless given."""
    headers = {}
    if body.get("retry_after") is not None:
        headers["Retry-After"] = str(max(1, round(body["retry_after"])))
    return json({"error": body}, status=status or status_of(e.error_class(body["code"])), headers=headers)


def error_response(request: Request, error: e.GatewayError) -> HTTPResponse:
    return body_response(error.body(request_id_of(request)), status_of(error))


def install(app: Sanic) -> None:
    @app.exception(e.GatewayError)
    async def gateway_error(request: Request, error: e.GatewayError) -> HTTPResponse:
        return error_response(request, error)

    @app.exception(SanicException)
    async def sanic_error(request: Request, error: SanicException) -> HTTPResponse:
        status = getattr(error, "status_code", 500) or 500
        code = SANIC_CODES.get(status, "invalid_request" if status < 500 else "internal_error")
        message = str(error) if status < 500 else SERVER_FAILED
        body = e.error_body(
            code,
            message,
            type_="invalid_request_error" if status < 500 else "server_error",
            request_id=request_id_of(request),
        )
        return body_response(body, status)

    @app.exception(Exception)
    async def unexpected(request: Request, error: Exception) -> HTTPResponse:
        log.exception("unhandled error on %s %s (request %s)", request.method, request.path, request_id_of(request))
        return body_response(e.error_body("internal_error", SERVER_FAILED, request_id=request_id_of(request)), 500)
