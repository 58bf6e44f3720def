"""What the sync and async clients share: configuration, request building, the retry policy and error mapping.

The clients differ only in how they wait (``time.sleep`` vs ``asyncio.sleep``, ``send`` vs ``await send``); every
decision (what to send, whether to retry, how long to wait, which error to raise) is made here.
"""

from __future__ import annotations

import mimetypes
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import httpx

from ._errors import APIConnectionError, APITimeoutError, retry_after_of
from ._models import SignedIn

T = TypeVar("T")

__version__ = "0.1.0"

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
DEFAULT_MAX_RETRIES = 2
#: The placeholder key of a client that is signing in (never sent: the sign-in call is anonymous).
SIGNING_IN = "(signing in)"
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
MAX_RETRY_AFTER = 60.0
RETRY_STATUSES = frozenset({408, 429})


@dataclass(frozen=True)
class Call(Generic[T]):
    """One HTTP exchange: what to send and how to turn the answer into ``T``."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: Mapping[str, Any] | None = None
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    anonymous: bool = False  # sent without the API key (signing in)


class BaseClient:
    """Configuration and policy shared by :class:`PluggablyClient` and :class:`AsyncPluggablyClient`."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        default_headers: Mapping[str, str] | None = None,
    ) -> None:
        if not base_url:
            raise ValueError("base_url is required, e.g. 'http://localhost:8080'.")
        if not api_key:
            raise ValueError("api_key is required: create one with `pluggably users create` or POST /v1/keys.")
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more.")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) or timeout is None else httpx.Timeout(timeout)
        self.max_retries = max_retries
        self._default_headers = dict(default_headers or {})
        #: Set by ``login()``: who signed in, and when the key expires.
        self.signed_in: SignedIn | None = None

    # -- requests --------------------------------------------------------------------------------------------

    def _headers(self, extra: Mapping[str, str] | None = None, *, anonymous: bool = False) -> dict[str, str]:
        key = {} if anonymous else {"X-API-Key": self.api_key}
        return {
            **key,
            "Accept": "application/json",
            "User-Agent": f"pluggably-llm-client/{__version__}",
            **self._default_headers,
            **(extra or {}),
        }

    def _url(self, path: str) -> str:
        return self.base_url + path

    @staticmethod
    def _params(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
        if not params:
            return None
        return {k: v for k, v in params.items() if v is not None} or None

    # -- retries ---------------------------------------------------------------------------------------------

    @staticmethod
    def _should_retry(response: httpx.Response) -> bool:
        """Retry 408, 429 and 5xx; a server that says ``X-Should-Retry`` decides for itself."""
        verdict = response.headers.get("x-should-retry")
        if verdict in ("true", "false"):
            return verdict == "true"
        return response.status_code in RETRY_STATUSES or response.status_code >= 500

    @staticmethod
    def _retry_delay(attempt: int, response: httpx.Response | None = None) -> float:
        """Seconds before retry number ``attempt + 1``: the server's ``Retry-After`` when it gave one (up to a
        minute), else exponential backoff with jitter (0.5 s, 1 s, 2 s... up to 8 s)."""
        if response is not None:
            retry_after = retry_after_of(response)
            if retry_after is not None and retry_after <= MAX_RETRY_AFTER:
                return retry_after
        delay = min(INITIAL_RETRY_DELAY * 2**attempt, MAX_RETRY_DELAY)
        return delay * (1 - 0.25 * random.random())

    @staticmethod
    def _connection_error(error: httpx.TransportError, request: httpx.Request) -> APIConnectionError:
        if isinstance(error, httpx.TimeoutException):
            return APITimeoutError(request)
        detail = str(error) or type(error).__name__
        return APIConnectionError(message=f"Connection error: {detail}", request=request)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"


def artifact_path(path: Path, artifact_id: str, response: httpx.Response) -> Path:
    """Where ``download_artifact`` writes: ``path`` itself, or ``<id>.<ext>`` inside it when it is a folder."""
    if not path.is_dir():
        return path
    mime = response.headers.get("content-type", "").split(";")[0].strip()
    return path / (artifact_id + (mimetypes.guess_extension(mime) or ".bin"))
