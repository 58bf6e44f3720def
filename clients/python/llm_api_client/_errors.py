"""The SDK's one error hierarchy, modelled on openai-python's.

::

    APIError
    ├── APIStatusError            the gateway answered with a 4xx/5xx status
    │   ├── BadRequestError           400
    │   ├── AuthenticationError       401
    │   ├── PermissionDeniedError     403
    │   ├── NotFoundError             404
    │   ├── ConflictError             409
    │   ├── UnprocessableEntityError  422
    │   ├── RateLimitError            429
    │   └── InternalServerError       5xx
    ├── APIConnectionError        no answer at all (refused, reset, DNS...)
    │   └── APITimeoutError           the request timed out
    └── GenerationError           a stream ended with an ``error`` event
"""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "GenerationError",
    "InternalServerError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "UnprocessableEntityError",
]


class APIError(Exception):
    """Base of every error the SDK raises.

    ``message`` says what went wrong; ``code``, ``type`` and ``param`` come from the gateway's error object when
    there was one (``{"error": {"code", "message", "type", "param", "request_id"}}``); ``body`` is that object.
    """

    message: str
    request: httpx.Request | None
    body: Any
    code: str | None
    type: str | None
    param: str | None
    request_id: str | None

    def __init__(self, message: str, request: httpx.Request | None = None, *, body: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.request = request
        self.body = body
        error = body if isinstance(body, dict) else {}
        self.code = error.get("code")
        self.type = error.get("type")
        self.param = error.get("param")
        self.request_id = error.get("request_id")


class APIStatusError(APIError):
    """The gateway answered with an error status; ``status_code``, ``request_id`` and ``response`` say which."""

    response: httpx.Response
    status_code: int

    def __init__(self, message: str, *, response: httpx.Response, body: Any = None) -> None:
        super().__init__(message, response.request, body=body)
        self.response = response
        self.status_code = response.status_code
        self.request_id = self.request_id or response.headers.get("x-request-id")

    def __str__(self) -> str:
        parts = [f"Error {self.status_code}"]
        if self.code:
            parts.append(f"({self.code})")
        text = " ".join(parts) + f": {self.message}"
        return text + (f" [request {self.request_id}]" if self.request_id else "")


class BadRequestError(APIStatusError):
    """400: malformed request, a provider that rejected it, or no provider configured for it."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing, unknown or revoked."""


class PermissionDeniedError(APIStatusError):
    """403: the key is valid but may not do this (e.g. an admin-only route)."""


class NotFoundError(APIStatusError):
    """404: no such resource for this user (session, generation, job, artifact, model...)."""


class ConflictError(APIStatusError):
    """409: the resource's state forbids the request (a taken name, a finished generation...)."""


class UnprocessableEntityError(APIStatusError):
    """422: the request failed validation; ``param`` names the offending field."""


class RateLimitError(APIStatusError):
    """429: too many requests; ``retry_after`` is how many seconds the gateway asked to wait (or ``None``)."""

    retry_after: float | None

    def __init__(self, message: str, *, response: httpx.Response, body: Any = None) -> None:
        super().__init__(message, response=response, body=body)
        self.retry_after = retry_after_of(response, body)


class InternalServerError(APIStatusError):
    """5xx: the gateway or the upstream provider failed; retried automatically before it reaches you."""


class APIConnectionError(APIError):
    """The request never got an answer: connection refused or reset, DNS failure, broken stream."""

    def __init__(self, *, message: str = "Connection error.", request: httpx.Request | None = None) -> None:
        super().__init__(message, request)


class APITimeoutError(APIConnectionError):
    """The request timed out (see the client's ``timeout``)."""

    def __init__(self, request: httpx.Request | None = None) -> None:
        super().__init__(message="Request timed out.", request=request)


class GenerationError(APIError):
    """A streamed generation ended with an ``error`` event (raised by ``Stream.final_response()``)."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(str(body.get("message") or "The generation failed."), body=body)

    def __str__(self) -> str:
        return f"{self.code or 'error'}: {self.message}" + (
            f" [generation {self.request_id}]" if self.request_id else ""
        )


STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def retry_after_of(response: httpx.Response, body: Any = None) -> float | None:
    """Seconds to wait from ``Retry-After-Ms``, ``Retry-After`` (seconds or an HTTP date) or the body's field."""
    headers = response.headers
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw:
        try:
            return max(0.0, float(raw))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(raw).timestamp() - time.time())
            except (TypeError, ValueError, IndexError):
                pass
    if isinstance(body, dict) and isinstance(body.get("retry_after"), (int, float)):
        return max(0.0, float(body["retry_after"]))
    return None


def status_error(response: httpx.Response) -> APIStatusError:
    """The error for a 4xx/5xx answer, built from the gateway's ``{"error": {...}}`` body when there is one."""
    try:
        payload = response.json()
    except (ValueError, UnicodeDecodeError):
        payload = None
    body = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(body, dict):
        message = str(body.get("message") or f"HTTP {response.status_code}")
    else:
        body = payload
        message = (response.text or response.reason_phrase or "").strip()[:500] or f"HTTP {response.status_code}"
    cls = STATUS_ERRORS.get(response.status_code)
    if cls is None:
        cls = InternalServerError if response.status_code >= 500 else APIStatusError
    return cls(message, response=response, body=body)
