"""Every endpoint of the gateway as a :class:`Call`: the sync and async clients send the same calls."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

import httpx

from ._base import Call
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
    Session,
    SessionDetail,
    SessionHistory,
    SignedIn,
    UsageReport,
    User,
)


def _seg(value: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty id, got {value!r}")
    return quote(value, safe="")


def _none(response: httpx.Response) -> None:
    return None


def _iso(as_of: dt.datetime | str | None) -> str | None:
    if as_of is None or isinstance(as_of, str):
        return as_of
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=dt.UTC)
    return as_of.isoformat()


def _body(request: GenerateRequest, stream: bool) -> dict[str, Any]:
    if not isinstance(request, GenerateRequest):
        raise TypeError(f"expected a GenerateRequest, got {type(request).__name__}")
    body = request.model_dump(mode="json", exclude_none=True)
    body["stream"] = stream
    return body


# -- generate ----------------------------------------------------------------------------------------------------


def generate(request: GenerateRequest, session_id: str | None = None, *, stream: bool = False) -> Call[Any]:
    path = f"/v1/sessions/{_seg(session_id)}/generate" if session_id is not None else "/v1/generate"
    headers = {"Accept": "text/event-stream"} if stream else {}
    return Call(
        "POST", path, lambda r: GenerateResponse.model_validate(r.json()), json=_body(request, stream), headers=headers
    )


def generation_events(generation_id: str, last_event_id: int | None) -> Call[None]:
    headers = {"Accept": "text/event-stream"}
    if last_event_id:
        headers["Last-Event-ID"] = str(last_event_id)
    return Call("GET", f"/v1/generations/{_seg(generation_id)}/events", _none, headers=headers)


def get_generation(generation_id: str) -> Call[Generation]:
    return Call("GET", f"/v1/generations/{_seg(generation_id)}", lambda r: Generation.model_validate(r.json()))


def cancel_generation(generation_id: str) -> Call[Generation]:
    return Call("DELETE", f"/v1/generations/{_seg(generation_id)}", lambda r: Generation.model_validate(r.json()))


# -- sessions ----------------------------------------------------------------------------------------------------


def create_session(title: str | None, model: str | None) -> Call[Session]:
    body = {k: v for k, v in (("title", title), ("model", model)) if v is not None}
    return Call("POST", "/v1/sessions", lambda r: Session.model_validate(r.json()), json=body)


def list_sessions() -> Call[list[Session]]:
    return Call("GET", "/v1/sessions", lambda r: [Session.model_validate(s) for s in r.json()["sessions"]])


def get_session(session_id: str, as_of: dt.datetime | str | None = None) -> Call[SessionDetail]:
    return Call(
        "GET",
        f"/v1/sessions/{_seg(session_id)}",
        lambda r: SessionDetail.model_validate(r.json()),
        params={"as_of": _iso(as_of)},
    )


def rename_session(session_id: str, title: str) -> Call[Session]:
    return Call(
        "PATCH", f"/v1/sessions/{_seg(session_id)}", lambda r: Session.model_validate(r.json()), json={"title": title}
    )


def delete_session(session_id: str) -> Call[None]:
    return Call("DELETE", f"/v1/sessions/{_seg(session_id)}", _none)


def session_history(session_id: str, as_of: dt.datetime | str | None = None) -> Call[SessionHistory]:
    return Call(
        "GET",
        f"/v1/sessions/{_seg(session_id)}/history",
        lambda r: SessionHistory.model_validate(r.json()),
        params={"as_of": _iso(as_of)},
    )


# -- signing in --------------------------------------------------------------------------------------------------


def login(username: str, password: str) -> Call[SignedIn]:
    return Call(
        "POST",
        "/v1/auth/login",
        lambda r: SignedIn.model_validate(r.json()),
        json={"username": username, "password": password},
        anonymous=True,
    )


def logout() -> Call[None]:
    return Call("POST", "/v1/auth/logout", _none)


# -- account -----------------------------------------------------------------------------------------------------


def me() -> Call[Me]:
    return Call("GET", "/v1/me", lambda r: Me.model_validate(r.json()))


def list_providers() -> Call[list[Provider]]:
    return Call("GET", "/v1/providers", lambda r: [Provider.model_validate(p) for p in r.json()["providers"]])


def _day(value: dt.date | str | None) -> str | None:
    if isinstance(value, dt.datetime):
        value = value.date()
    return value.isoformat() if isinstance(value, dt.date) else value


def get_usage(start: dt.date | str | None = None, end: dt.date | str | None = None) -> Call[UsageReport]:
    return Call(
        "GET",
        "/v1/usage",
        lambda r: UsageReport.model_validate(r.json()),
        params={"from": _day(start), "to": _day(end)},
    )


def list_keys() -> Call[list[ApiKey]]:
    return Call("GET", "/v1/keys", lambda r: [ApiKey.model_validate(k) for k in r.json()["keys"]])


def create_key(name: str | None) -> Call[NewApiKey]:
    return Call(
        "POST",
        "/v1/keys",
        lambda r: NewApiKey.model_validate(r.json()),
        json={"name": name} if name is not None else {},
    )


def revoke_key(key_id: str) -> Call[None]:
    return Call("DELETE", f"/v1/keys/{_seg(key_id)}", _none)


def create_user(username: str, password: str, admin: bool) -> Call[NewUser]:
    return Call(
        "POST",
        "/v1/admin/users",
        lambda r: NewUser.model_validate(r.json()),
        json={"username": username, "password": password, "admin": admin},
    )


def list_users() -> Call[list[User]]:
    return Call("GET", "/v1/admin/users", lambda r: [User.model_validate(u) for u in r.json()["users"]])


def disable_user(user_id: str) -> Call[User]:
    return Call("POST", f"/v1/admin/users/{_seg(user_id)}/disable", lambda r: User.model_validate(r.json()))


def _credential(response: httpx.Response, provider: str) -> Credential:
    data = response.json() if response.content else {}
    if isinstance(data, dict) and isinstance(data.get("credential"), dict):
        data = data["credential"]
    return Credential.model_validate({"provider": provider, **(data if isinstance(data, dict) else {})})


def set_credential(provider: str, api_key: str, endpoint: str | None, api_version: str | None) -> Call[Credential]:
    body = {"api_key": api_key}
    if endpoint is not None:
        body["endpoint"] = endpoint
    if api_version is not None:
        body["api_version"] = api_version
    return Call("PUT", f"/v1/me/credentials/{_seg(provider)}", lambda r: _credential(r, provider), json=body)


def list_credentials() -> Call[list[Credential]]:
    return Call("GET", "/v1/me/credentials", lambda r: [Credential.model_validate(c) for c in r.json()["credentials"]])


def delete_credential(provider: str) -> Call[None]:
    return Call("DELETE", f"/v1/me/credentials/{_seg(provider)}", _none)


def artifact(artifact_id: str) -> Call[bytes]:
    return Call("GET", f"/v1/artifacts/{_seg(artifact_id)}", lambda r: r.content, headers={"Accept": "*/*"})


# -- models and jobs ---------------------------------------------------------------------------------------------


def list_models(modality: str | None) -> Call[list[Model]]:
    return Call(
        "GET",
        "/v1/models",
        lambda r: [Model.model_validate(m) for m in r.json()["models"]],
        params={"modality": modality},
    )


def search_models(
    query: str | None, modality: str | None, source: str, cursor: str | None, limit: int | None
) -> Call[SearchPage]:
    return Call(
        "GET",
        "/v1/models/search",
        lambda r: SearchPage.model_validate(r.json()),
        params={"source": source, "query": query, "modality": modality, "cursor": cursor, "limit": limit},
    )


def download_model(
    source_id: str,
    *,
    model_id: str | None,
    name: str | None,
    version: str | None,
    modality: str,
    revision: str | None,
    allow_patterns: list[str] | None,
    source: str,
) -> Call[Job]:
    model = {
        "id": model_id or source_id.rsplit("/", 1)[-1],
        "name": name or source_id,
        "version": version or revision or "main",
        "modality": modality,
    }
    options = {k: v for k, v in (("revision", revision), ("allow_patterns", allow_patterns)) if v is not None}
    body: dict[str, Any] = {"model": model, "source": {"type": source, "id": source_id}}
    if options:
        body["options"] = options
    return Call("POST", "/v1/models/download", lambda r: Job.model_validate(r.json()), json=body)


def delete_model(model_id: str) -> Call[None]:
    return Call("DELETE", f"/v1/models/{_seg(model_id)}", _none)


def get_job(job_id: str) -> Call[Job]:
    return Call("GET", f"/v1/jobs/{_seg(job_id)}", lambda r: Job.model_validate(r.json()))


def _jobs(response: httpx.Response) -> list[Job]:
    data = response.json()
    items = data.get("jobs", []) if isinstance(data, dict) else data
    return [Job.model_validate(j) for j in items]


def list_jobs() -> Call[list[Job]]:
    return Call("GET", "/v1/jobs", _jobs)


def _job_or_refetch(response: httpx.Response) -> Job | None:
    data = response.json() if response.content else None
    return Job.model_validate(data) if isinstance(data, dict) and "job_id" in data else None


def cancel_job(job_id: str) -> Call[Job | None]:
    return Call("DELETE", f"/v1/jobs/{_seg(job_id)}", _job_or_refetch)


# -- anything else -----------------------------------------------------------------------------------------------


def _json_or_none(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


def raw(method: str, path: str, params: dict[str, Any] | None, json: Any) -> Call[Any]:
    if not path.startswith("/"):
        raise ValueError("path starts with '/', e.g. '/v1/me'")
    return Call(method.upper(), path, _json_or_none, params=params, json=json)
