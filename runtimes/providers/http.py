"""HTTP plumbing shared by the provider runtimes: one pooled client, retries, error mapping, SSE parsing.

Retries cover 408, 429, 5xx, timeouts and connection failures, with exponential backoff and jitter; a
``Retry-After`` (or OpenAI's ``retry-after-ms``) is honoured when it is short, and ends the retries at once when it
is longer than ``RetryPolicy.max_retry_after_s`` (waiting less would only earn another 429). A stream is retried
only until its first event has been handed to the caller. Every failure leaves as a ``domain.errors`` provider
error whose message never contains the credential.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx

from domain.errors import (
    ProviderAuthFailed,
    ProviderError,
    ProviderNotConfigured,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
)
from runtimes.base import Credential, GenerationRequest, ProviderSettings, Runtime


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 2
    backoff_s: float = 0.5  # first backoff; doubles per attempt, with ±50 % jitter
    backoff_max_s: float = 8.0
    max_retry_after_s: float = 20.0  # a longer Retry-After is reported to the caller instead of waited for

    def delay(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds to wait before retry number ``attempt + 1``, or None when it is not worth retrying."""
        if attempt >= self.max_retries:
            return None
        if retry_after is not None:
            return None if retry_after > self.max_retry_after_s else max(retry_after, 0.0)
        base = min(self.backoff_s * 2**attempt, self.backoff_max_s)
        return base * random.uniform(0.5, 1.5)


@dataclass(frozen=True)
class SSEEvent:
    event: str
    data: str
    id: str | None = None

    def json(self) -> Any:
        return json.loads(self.data)


async def iter_sse(lines: AsyncIterator[str]) -> AsyncIterator[SSEEvent]:
    """Parse server-sent events from decoded lines (the WHATWG rules; an unterminated last event is dropped)."""
    event, event_id = "", None
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield SSEEvent(event or "message", "\n".join(data), event_id)
            event, data = "", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            data.append(value)
        elif field == "event":
            event = value
        elif field == "id":
            event_id = value


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """``retry-after-ms`` (OpenAI), else ``Retry-After`` in seconds; an HTTP date is not worth parsing here."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw:
            try:
                value = float(raw) / scale
            except ValueError:
                continue
            if math.isfinite(value) and value >= 0:
                return value
    return None


def provider_message(body: str) -> str:
    """The provider's own error message from its JSON error body (all five use ``error.message``)."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:500]
    if isinstance(data, list) and data:
        data = data[0]
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"]
        if isinstance(error, str):
            return error
    return body.strip()[:500]


def estimate_tokens(text: str) -> int:
    """A rough count (four characters a token) for when a provider reports no usage: never meter zero."""
    return math.ceil(len(text) / 4) if text else 0


def wants_stream(request: GenerationRequest) -> bool:
    """Stream upstream unless the request says otherwise (a ``stream`` attribute, when the request carries one)."""
    return getattr(request, "stream", True) is not False


class ProviderHTTP:
    """One provider's HTTP client: ``post_json`` and ``stream_sse`` with retries and error mapping.

    ``provider`` is the model prefix (``openai``), ``label`` the name users know (``OpenAI``), ``env_var`` the
    server-wide key's variable (``LLM_API_OPENAI_API_KEY``).
    """

    def __init__(
        self, provider: str, label: str, env_var: str, *, timeout_s: float = 60.0, retry: RetryPolicy | None = None
    ) -> None:
        self.provider = provider
        self.label = label
        self.env_var = env_var
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout_s, connect=min(self.timeout_s, 10.0)),
                limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
                headers={"user-agent": "pluggably"},
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- credentials and errors --------------------------------------------------------------------------------

    def credential(self, request: GenerationRequest) -> Credential:
        if request.credential is None or not request.credential.api_key:
            raise ProviderNotConfigured(
                f"{self.label} is not configured: the administrator can set {self.env_var}, "
                f"or save your own key under Profile (PUT /v1/me/credentials/{self.provider}).",
                param="model",
            )
        return request.credential

    def _scrub(self, text: str, credential: Credential | None) -> str:
        if credential is not None and len(credential.api_key) >= 4:
            text = text.replace(credential.api_key, "***")
        return text

    def auth_failed(self, credential: Credential | None, status: int | str) -> ProviderAuthFailed:
        if credential is not None and credential.source == "user":
            message = (
                f"{self.label} rejected your saved {self.label} credential (Profile) ({status}): update it "
                f"under Profile (PUT /v1/me/credentials/{self.provider})."
            )
        else:
            message = (
                f"{self.label} rejected the server's key from {self.env_var} ({status}): the administrator "
                f"must fix it, or save your own key under Profile (PUT /v1/me/credentials/{self.provider})."
            )
        return ProviderAuthFailed(message, provider=self.provider)

    def error(
        self, kind: str, message: str, credential: Credential | None = None, *, retry_after: float | None = None
    ) -> ProviderError:
        """An error of ``kind`` (rejected, auth, rate_limited, unavailable, timeout), e.g. from a stream event."""
        if kind == "auth":
            return self.auth_failed(credential, "in stream")
        message = self._scrub(message, credential)
        cls = {"rejected": ProviderRejected, "rate_limited": ProviderRateLimited, "timeout": ProviderTimeout}.get(
            kind, ProviderUnavailable
        )
        prefix = {
            "rejected": f"{self.label} rejected the request",
            "rate_limited": f"{self.label} rate limit reached",
            "timeout": f"{self.label} timed out",
        }.get(kind, f"{self.label} failed")
        return cls(f"{prefix}: {message}", provider=self.provider, retry_after=retry_after)

    def error_for_status(
        self, status: int, body: str, headers: Mapping[str, str], credential: Credential | None
    ) -> ProviderError:
        message = provider_message(body) or f"HTTP {status}"
        if status in (401, 403):
            return self.auth_failed(credential, f"HTTP {status}")
        if status == 429:
            return self.error("rate_limited", message, credential, retry_after=parse_retry_after(headers))
        if status == 408:
            return self.error("timeout", message, credential)
        if status >= 500:
            return self.error(
                "unavailable", f"HTTP {status}: {message}", credential, retry_after=parse_retry_after(headers)
            )
        return self.error("rejected", message, credential)

    def _transport_error(self, exc: httpx.TransportError, *, mid_stream: bool) -> ProviderError:
        if isinstance(exc, httpx.TimeoutException):
            where = "stopped sending mid-stream" if mid_stream else "did not answer"
            return ProviderTimeout(f"{self.label} {where} within {self.timeout_s:g} s.", provider=self.provider)
        if mid_stream:
            return ProviderUnavailable(
                f"{self.label} broke off the stream: {type(exc).__name__}.", provider=self.provider
            )
        return ProviderUnavailable(f"Could not reach {self.label}: {type(exc).__name__}.", provider=self.provider)

    async def _backoff_or_raise(self, error: ProviderError, attempt: int) -> None:
        delay = self.retry.delay(attempt, error.retry_after) if error.retryable else None
        if delay is None:
            raise error
        await asyncio.sleep(delay)

    # -- requests ----------------------------------------------------------------------------------------------

    async def post_json(
        self,
        url: str,
        *,
        headers: Mapping[str, str],
        body: Any,
        credential: Credential | None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        attempt = 0
        while True:
            try:
                response = await self.client.post(url, json=body, headers=headers, params=params)
            except httpx.TransportError as exc:
                error = self._transport_error(exc, mid_stream=False)
            else:
                if response.status_code < 400:
                    try:
                        return response.json()
                    except ValueError:
                        raise ProviderUnavailable(
                            f"{self.label} answered with invalid JSON.", provider=self.provider
                        ) from None
                error = self.error_for_status(response.status_code, response.text, response.headers, credential)
            await self._backoff_or_raise(error, attempt)
            attempt += 1

    async def stream_sse(
        self,
        url: str,
        *,
        headers: Mapping[str, str],
        body: Any,
        credential: Credential | None,
        params: Mapping[str, str] | None = None,
    ) -> AsyncGenerator[SSEEvent, None]:
        attempt = 0
        while True:
            started = False
            try:
                async with self.client.stream("POST", url, json=body, headers=headers, params=params) as response:
                    if response.status_code >= 400:
                        text = (await response.aread()).decode("utf-8", "replace")
                        error = self.error_for_status(response.status_code, text, response.headers, credential)
                    else:
                        async for event in iter_sse(response.aiter_lines()):
                            started = True
                            yield event
                        return
            except httpx.TransportError as exc:
                error = self._transport_error(exc, mid_stream=started)
                if started:
                    raise error from None
            await self._backoff_or_raise(error, attempt)
            attempt += 1


class ProviderRuntime(Runtime):
    """A commercial provider over HTTP: its own settings (``settings_class``), one pooled client (``self.http``) and
    the server-wide key. A module's ``create = TheRuntime.create`` is its ``pluggably.runtimes`` entry point."""

    needs_credential = True
    settings_class: ClassVar[type[ProviderSettings]] = ProviderSettings
    http_class: ClassVar[type[ProviderHTTP]] = ProviderHTTP

    def __init__(
        self, settings: ProviderSettings, *, timeout_s: float = 60.0, retry: RetryPolicy | None = None
    ) -> None:
        self.settings = settings
        self.http = self.http_class(self.name, self.label, self.key_setting(), timeout_s=timeout_s, retry=retry)

    @classmethod
    def create(cls, settings: Any, own: ProviderSettings | None = None, **options: Any) -> Any:
        """Made from the gateway's ``settings`` (timeouts, retries) and the provider's own, read from the
        environment unless given (``own``). ``options`` reach the constructor (tests pass a fast ``retry``)."""
        options.setdefault("timeout_s", settings.provider_timeout_s)
        options.setdefault("retry", RetryPolicy(max_retries=settings.provider_max_retries))
        return cls(own if own is not None else cls.settings_class(), **options)

    async def prepare(self) -> None:
        self.http.client  # noqa: B018 - made now, not in the first generation's time

    async def aclose(self) -> None:
        await self.http.aclose()
