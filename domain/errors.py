"""The one error hierarchy of the gateway.

Every error carries a stable machine-readable ``code``; the API maps codes to HTTP statuses in one place
(``api/errors.py``). Messages say what to fix and never contain a secret.
"""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    """Base of every error the gateway reports to a caller."""

    code = "internal_error"
    type = "server_error"
    retryable = False

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code

    def body(self, request_id: str | None = None) -> dict[str, Any]:
        """What callers get for this error: over HTTP, as an SSE ``error`` event and on the bus alike."""
        return error_body(
            self.code,
            self.message,
            type_=self.type,
            param=self.param,
            request_id=request_id,
            retry_after=getattr(self, "retry_after", None),
        )


class InvalidRequest(GatewayError):
    code = "invalid_request"
    type = "invalid_request_error"


class MalformedRequest(InvalidRequest):
    """The body is not JSON at all (400); ``InvalidRequest`` is for JSON that fails validation (422)."""

    code = "invalid_json"


class InvalidText(MalformedRequest):
    """Text the gateway cannot store or send on: a NUL character or a lone UTF-16 surrogate (400, naming the field)."""

    code = "invalid_text"


class TooDeep(MalformedRequest):
    """JSON nested deeper than ``LLM_API_MAX_JSON_DEPTH`` (400)."""

    code = "json_too_deep"


class PayloadTooLarge(InvalidRequest):
    """A body or an input over its limit (413); the message names the limit and its setting."""

    code = "payload_too_large"


class UnknownModel(InvalidRequest):
    code = "model_not_found"


class AuthenticationFailed(GatewayError):
    code = "unauthorized"
    type = "authentication_error"


class PermissionDenied(GatewayError):
    code = "forbidden"
    type = "permission_error"


class NotFound(GatewayError):
    code = "not_found"
    type = "not_found_error"


class RateLimited(GatewayError):
    """Too many attempts (e.g. failed sign-ins for one username); ``retry_after`` says when to try again."""

    code = "rate_limited"
    type = "rate_limit_error"

    def __init__(
        self, message: str, *, retry_after: float | None = None, param: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message, param=param, code=code)
        self.retry_after = retry_after


class Conflict(GatewayError):
    code = "conflict"
    type = "conflict_error"


class ProviderNotConfigured(InvalidRequest):
    code = "provider_not_configured"


class GenerationCancelled(GatewayError):
    code = "cancelled"
    type = "cancelled"


class StillRunning(GatewayError):
    """The answer did not come within the request timeout; the generation goes on and can be followed."""

    code = "timeout"
    type = "timeout"


class ServiceUnavailable(GatewayError):
    """A service the gateway needs (the event store, the bus) is down: nothing was done, try again later (503 with
    ``Retry-After``)."""

    code = "unavailable"
    type = "server_error"
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = 2.0, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class ProviderError(GatewayError):
    """A failure reported by, or on the way to, an upstream provider or local runtime."""

    code = "provider_error"
    type = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        retry_after: float | None = None,
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, param=param, code=code)
        self.provider = provider
        self.retry_after = retry_after


class ProviderRejected(ProviderError):
    """The provider refused the request itself (its 400): retrying will not help."""

    code = "provider_rejected"


class ProviderAuthFailed(ProviderError):
    code = "provider_auth_failed"


class ProviderRateLimited(ProviderError):
    code = "provider_rate_limited"
    retryable = True


class ProviderUnavailable(ProviderError):
    code = "provider_unavailable"
    retryable = True


class ProviderTimeout(ProviderError):
    code = "provider_timeout"
    retryable = True


class RuntimeFailure(ProviderError):
    """A local runtime failed (bad model file, crashed child process, out of memory...)."""

    code = "runtime_failed"


ERRORS_BY_CODE: dict[str, type[GatewayError]] = {}


def _index(cls: type[GatewayError]) -> None:
    ERRORS_BY_CODE.setdefault(cls.code, cls)
    for sub in cls.__subclasses__():
        _index(sub)


_index(GatewayError)


def error_class(code: str) -> type[GatewayError]:
    """The error class a code stands for (``GatewayError`` for a code no class declares)."""
    return ERRORS_BY_CODE.get(code, GatewayError)


def error_from_code(code: str, message: str, *, retry_after: float | None = None) -> GatewayError:
    """Rebuild an error from what a ``Generation.Failed`` event stored."""
    cls = error_class(code)
    if issubclass(cls, (ProviderError, RateLimited, ServiceUnavailable)):
        return cls(message, retry_after=retry_after, code=code)
    return cls(message, code=code)


def error_body(
    code: str,
    message: str,
    *,
    type_: str = "server_error",
    param: str | None = None,
    request_id: str | None = None,
    retry_after: float | None = None,
) -> dict[str, Any]:
    """The one error shape, ``{"code", "message", "type", "param", "request_id"}`` (and ``retry_after`` when the
    caller should wait), built here for every answer: HTTP bodies, SSE ``error`` events and the bus."""
    body: dict[str, Any] = {"code": code, "message": message, "type": type_, "param": param, "request_id": request_id}
    if retry_after is not None:
        body["retry_after"] = retry_after
    return body
