"""The synchronous client."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx

from . import _endpoints as api
from ._base import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, SIGNING_IN, BaseClient, Call, artifact_path
from ._errors import status_error
from ._models import (
    ApiKey,
    Credential,
    GenerateRequest,
    GenerateResponse,
    Generation,
    Job,
    Me,
    Model,
    NewApiKey,
    NewUser,
    Provider,
    SearchPage,
    SearchResult,
    Session,
    SessionDetail,
    SessionHistory,
    SessionMessage,
    UsageReport,
    User,
)
from ._streaming import Stream

T = TypeVar("T")

__all__ = ["PluggablyClient", "SearchPager", "SessionHandle"]


class PluggablyClient(BaseClient):
    """A client of one Pluggably gateway.

    ``PluggablyClient("http://localhost:8080", "your-key")``. ``timeout`` (seconds or an ``httpx.Timeout``) bounds
    each request; ``max_retries`` is how often a request is retried on a connection error, 408, 429 or 5xx
    (honouring ``Retry-After``) and how often a broken stream is resumed; 0 turns both off. Close it when done,
    or use it as a context manager.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(base_url, api_key, timeout=timeout, max_retries=max_retries, default_headers=default_headers)
        self._http = http_client or httpx.Client(timeout=self.timeout)

    @classmethod
    def login(cls, base_url: str, username: str, password: str, **options: Any) -> PluggablyClient:
        """Sign in with a password: a client holding a new ``web session`` key that expires
        (``client.signed_in.expires_at``; the server's ``LLM_API_SESSION_TTL_S``, 12 h by default). ``options`` are
        the constructor's. A wrong password raises ``AuthenticationError``; too many, ``RateLimitError``."""
        client = cls(base_url, SIGNING_IN, **options)
        try:
            client.signed_in = client._call(api.login(username, password))
        except BaseException:
            client.close()
            raise
        client.api_key = client.signed_in.api_key
        return client

    def logout(self) -> None:
        """Sign out: revoke the API key this client holds (any key; it answers 401 from now on)."""
        self._call(api.logout())

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> PluggablyClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- plumbing --------------------------------------------------------------------------------------------

    def _send(self, call: Call[Any], *, stream: bool = False) -> httpx.Response:
        attempt = 0
        while True:
            request = self._http.build_request(
                call.method,
                self._url(call.path),
                params=self._params(call.params),
                json=call.json,
                headers=self._headers(call.headers, anonymous=call.anonymous),
                timeout=self.timeout,
            )
            try:
                response = self._http.send(request, stream=stream)
            except httpx.TransportError as error:
                if attempt < self.max_retries:
                    time.sleep(self._retry_delay(attempt))
                    attempt += 1
                    continue
                raise self._connection_error(error, request) from error
            if not response.is_error:
                return response
            if stream:
                response.read()
                response.close()
            if attempt < self.max_retries and self._should_retry(response):
                time.sleep(self._retry_delay(attempt, response))
                attempt += 1
                continue
            raise status_error(response)

    def _call(self, call: Call[T]) -> T:
        return call.parse(self._send(call))

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None) -> Any:
        """Any other endpoint: ``client.request("GET", "/v1/me")`` → the decoded JSON (``None`` for no body).
        Errors and retries are as for every other method."""
        return self._call(api.raw(method, path, params, json))

    # -- generate --------------------------------------------------------------------------------------------

    def generate(self, request: GenerateRequest) -> GenerateResponse:
        """Generate and wait for the whole answer: ``response.output.text`` / ``.images`` / ``.artifacts``."""
        return self._call(api.generate(request))

    def stream(self, request: GenerateRequest) -> Stream:
        """Generate, receiving events as they come: a :class:`Stream` of ``TokenEvent``/``ProgressEvent`` then a
        ``DoneEvent`` or ``ErrorEvent``. A dropped connection is resumed by itself, without loss or repetition."""
        return Stream(self, api.generate(request, stream=True))

    def get_generation(self, generation_id: str) -> Generation:
        """A generation's status (``response.request_id`` is a generation id)."""
        return self._call(api.get_generation(generation_id))

    def cancel_generation(self, generation_id: str) -> Generation:
        """Cancel a generation that has not finished yet; a finished one is left as it is."""
        return self._call(api.cancel_generation(generation_id))

    # -- sessions --------------------------------------------------------------------------------------------

    def create_session(self, title: str | None = None, model: str | None = None) -> Session:
        """Start a chat session; ``model`` becomes the default of its requests."""
        return self._call(api.create_session(title, model))

    def list_sessions(self) -> list[Session]:
        """The caller's sessions, newest first."""
        return self._call(api.list_sessions())

    def get_session(self, session_id: str, *, as_of: dt.datetime | str | None = None) -> SessionDetail:
        """A session with its messages; with ``as_of``, as it was at that time."""
        return self._call(api.get_session(session_id, as_of))

    def rename_session(self, session_id: str, title: str) -> Session:
        """Change a session's title."""
        return self._call(api.rename_session(session_id, title))

    def delete_session(self, session_id: str) -> None:
        """Delete a session (its history stays in the audit trail)."""
        self._call(api.delete_session(session_id))

    def session(self, session_id: str) -> SessionHandle:
        """A handle on one session: ``.generate()``, ``.stream()``, ``.messages()``, ``.history()``. No request is
        made until it is used."""
        return SessionHandle(self, session_id)

    # -- account ---------------------------------------------------------------------------------------------

    def me(self) -> Me:
        """Who the API key belongs to."""
        return self._call(api.me())

    def list_providers(self) -> list[Provider]:
        """The providers and whether each is configured for the caller (own credential, server's, local)."""
        return self._call(api.list_providers())

    def get_usage(self, *, start: dt.date | str | None = None, end: dt.date | str | None = None) -> UsageReport:
        """The caller's usage per day and model, with totals; ``start`` and ``end`` (days, both included) bound
        it."""
        return self._call(api.get_usage(start, end))

    def list_keys(self) -> list[ApiKey]:
        """The caller's API keys (never their secrets)."""
        return self._call(api.list_keys())

    def create_key(self, name: str | None = None) -> NewApiKey:
        """Issue a new API key; its secret (``.api_key``) is only ever shown in this answer."""
        return self._call(api.create_key(name))

    def revoke_key(self, key_id: str) -> None:
        """Revoke one of the caller's API keys."""
        self._call(api.revoke_key(key_id))

    def create_user(self, username: str, password: str, *, admin: bool = False) -> NewUser:
        """Admins: create a user and their first API key (``.api_key``, shown only in this answer)."""
        return self._call(api.create_user(username, password, admin))

    def list_users(self) -> list[User]:
        """Admins: every user, oldest first."""
        return self._call(api.list_users())

    def disable_user(self, user_id: str) -> User:
        """Admins: lock a user out; every API key they hold stops working. Their records stay."""
        return self._call(api.disable_user(user_id))

    def set_credential(
        self, provider: str, api_key: str, *, endpoint: str | None = None, api_version: str | None = None
    ) -> Credential:
        """Save the caller's own key for ``provider`` (``endpoint``/``api_version`` for Azure OpenAI); it is then
        used for the caller's requests instead of the server's."""
        return self._call(api.set_credential(provider, api_key, endpoint, api_version))

    def list_credentials(self) -> list[Credential]:
        """The caller's own provider credentials (provider and last 4 characters only)."""
        return self._call(api.list_credentials())

    def delete_credential(self, provider: str) -> None:
        """Forget the caller's own credential for ``provider``."""
        self._call(api.delete_credential(provider))

    def read_artifact(self, artifact_id: str) -> bytes:
        """An artifact's bytes, in memory."""
        return self._call(api.artifact(artifact_id))

    def download_artifact(self, artifact_id: str, path: str | os.PathLike[str]) -> Path:
        """Stream an artifact to ``path`` (a file, or an existing folder to put ``<id>.<ext>`` in); returns the
        file's path. The file appears complete or not at all."""
        response = self._send(api.artifact(artifact_id), stream=True)
        target = artifact_path(Path(path), artifact_id, response)
        partial = target.with_name(target.name + ".part")
        try:
            with open(partial, "wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
            os.replace(partial, target)
        finally:
            response.close()
            partial.unlink(missing_ok=True)
        return target

    # -- models and jobs -------------------------------------------------------------------------------------

    def list_models(self, modality: str | None = None) -> list[Model]:
        """The models the gateway serves locally, optionally of one ``modality`` (text, image, 3d)."""
        return self._call(api.list_models(modality))

    def search_models(
        self,
        query: str | None = None,
        *,
        modality: str | None = None,
        source: str = "huggingface",
        limit: int | None = None,
    ) -> SearchPager:
        """Search a model hub. Lazy: pages are fetched as the :class:`SearchPager` is iterated; ``limit`` is the
        page size."""
        return SearchPager(lambda cursor: self._call(api.search_models(query, modality, source, cursor, limit)))

    def download_model(
        self,
        source_id: str,
        *,
        model_id: str | None = None,
        name: str | None = None,
        version: str | None = None,
        modality: str = "text",
        revision: str | None = None,
        allow_patterns: list[str] | None = None,
        source: str = "huggingface",
    ) -> Job:
        """Start downloading ``source_id`` (e.g. ``"TheBloke/Mistral-7B-v0.1-GGUF"``) as a local model; returns
        the job (``wait_for_job()`` follows it). ``model_id`` defaults to the repo's name, ``name`` to
        ``source_id`` and ``version`` to ``revision`` (else ``"main"``)."""
        return self._call(
            api.download_model(
                source_id,
                model_id=model_id,
                name=name,
                version=version,
                modality=modality,
                revision=revision,
                allow_patterns=allow_patterns,
                source=source,
            )
        )

    def delete_model(self, model_id: str) -> None:
        """Remove a downloaded local model (``local:<id>``) and its files; needs an admin's key. A model set by
        the server's ``LLM_API_LOCAL_*`` settings raises :class:`ConflictError`."""
        self._call(api.delete_model(model_id))

    def get_job(self, job_id: str) -> Job:
        """A job's status and progress."""
        return self._call(api.get_job(job_id))

    def list_jobs(self) -> list[Job]:
        """The caller's jobs."""
        return self._call(api.list_jobs())

    def cancel_job(self, job_id: str) -> Job:
        """Cancel a job; returns it as it is after the request."""
        return self._call(api.cancel_job(job_id)) or self.get_job(job_id)

    def wait_for_job(
        self,
        job_id: str,
        *,
        on_progress: Callable[[Job], Any] | None = None,
        poll_interval: float = 1.0,
        timeout: float | None = None,
    ) -> Job:
        """Poll a job until it is completed, failed or cancelled and return it (check ``job.status``);
        ``on_progress(job)`` is called after every poll. Raises ``TimeoutError`` after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.get_job(job_id)
            if on_progress is not None:
                on_progress(job)
            if job.done:
                return job
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"Job {job_id} is still {job.status} after {timeout}s.")
            time.sleep(poll_interval)


class SessionHandle:
    """One session, addressed by ``id``: generate in it and read it back."""

    def __init__(self, client: PluggablyClient, session_id: str) -> None:
        self._client = client
        self.id = session_id

    def __repr__(self) -> str:
        return f"SessionHandle(id={self.id!r})"

    def generate(self, request: GenerateRequest) -> GenerateResponse:
        """Generate with the session's conversation as context; both messages are appended to it."""
        return self._client._call(api.generate(request, self.id))

    def stream(self, request: GenerateRequest) -> Stream:
        """Like :meth:`generate`, streamed (resumed by itself if the connection drops)."""
        return Stream(self._client, api.generate(request, self.id, stream=True))

    def get(self, *, as_of: dt.datetime | str | None = None) -> SessionDetail:
        """The session with its messages (as it was at ``as_of``)."""
        return self._client.get_session(self.id, as_of=as_of)

    def messages(self, *, as_of: dt.datetime | str | None = None) -> list[SessionMessage]:
        """The conversation so far (or as it was at ``as_of``)."""
        return self.get(as_of=as_of).messages

    def history(self, *, as_of: dt.datetime | str | None = None) -> SessionHistory:
        """The audit trail: every stored event of the session and its generations (up to ``as_of``)."""
        return self._client._call(api.session_history(self.id, as_of))

    def rename(self, title: str) -> Session:
        """Change the session's title."""
        return self._client.rename_session(self.id, title)

    def delete(self) -> None:
        """Delete the session."""
        self._client.delete_session(self.id)


class SearchPager:
    """Search results, fetched a page at a time as they are iterated (``for result in pager``); ``pages()``
    iterates the pages themselves."""

    def __init__(self, fetch: Callable[[str | None], SearchPage]) -> None:
        self._fetch = fetch

    def pages(self) -> Iterator[SearchPage]:
        """Each page, until one has no ``next_cursor``."""
        cursor: str | None = None
        while True:
            page = self._fetch(cursor)
            yield page
            if not page.next_cursor or not page.results:
                return
            cursor = page.next_cursor

    def __iter__(self) -> Iterator[SearchResult]:
        for page in self.pages():
            yield from page.results
