"""Typed request and response models matching the gateway's HTTP contract.

Requests forbid unknown fields (a typo fails here, not on the server); responses allow them, so a newer gateway
that adds fields does not break an older client.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Modality = Literal["text", "image", "3d"]
JobStatus = Literal["queued", "running", "completed", "failed", "cancelled"]

__all__ = [
    "ApiKey",
    "Artifact",
    "Credential",
    "DoneEvent",
    "ErrorEvent",
    "ErrorObject",
    "GenerateInput",
    "GenerateOutput",
    "GenerateRequest",
    "GenerateResponse",
    "Generation",
    "HistoryEvent",
    "Job",
    "JobStatus",
    "Me",
    "Message",
    "Modality",
    "Model",
    "NewApiKey",
    "ProgressEvent",
    "Provider",
    "SearchPage",
    "SearchResult",
    "Session",
    "SessionDetail",
    "SessionHistory",
    "SessionMessage",
    "StreamEvent",
    "TokenEvent",
    "Usage",
    "UsageReport",
    "UsageRow",
]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())


# -- generate ----------------------------------------------------------------------------------------------------


class Message(_Request):
    """One chat message of ``GenerateInput.messages``."""

    role: Literal["system", "user", "assistant"]
    content: str


class GenerateInput(_Request):
    """What to generate from: a ``prompt``, a list of ``messages``, or both (the prompt is appended as ``user``)."""

    prompt: str | None = None
    messages: list[Message] | None = None


class GenerateRequest(_Request):
    """The body of ``POST /v1/generate``.

    ``model`` is ``provider:name`` (``"openai:gpt-4o-mini"``), ``local:<name>``, a list of them to fall back
    through in order, or ``None`` for the gateway's default model of the modality. ``parameters`` are the
    modality's options (text: ``temperature``, ``max_tokens``, ``top_p``, ``stop``, ``seed``; image: ``width``,
    ``height``, ``steps``, ``guidance``, ``negative_prompt``, ``seed``, ``n``; 3d: ``steps``, ``guidance``,
    ``seed``, ``format``). ``stream`` is set by the client's ``stream()`` methods; leave it alone.
    """

    modality: Modality = "text"
    model: str | list[str] | None = None
    input: GenerateInput
    parameters: dict[str, Any] = Field(default_factory=dict)
    stream: bool = False


class Artifact(_Response):
    """A file the generation produced (a large image, a mesh); fetch it with ``client.download_artifact(id, path)``."""

    id: str
    url: str | None = None
    mime_type: str | None = None
    size_bytes: int | None = None


class GenerateOutput(_Response):
    """The output: ``text``, inline ``images`` (base64 PNG/JPEG) and ``artifacts`` (files kept by the gateway)."""

    text: str | None = None
    images: list[str] | None = None
    artifacts: list[Artifact] | None = None

    def image_bytes(self) -> list[bytes]:
        """The inline images, decoded."""
        return [base64.b64decode(image) for image in self.images or []]


class Usage(_Response):
    """Token (and image/mesh) counts of one generation."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0


class GenerateResponse(_Response):
    """The answer of ``generate()`` and the payload of a stream's ``done`` event.

    ``request_id`` is the generation's id (``client.get_generation(request_id)`` reads it back).
    """

    request_id: str
    model: str | None = None
    modality: Modality | None = None
    output: GenerateOutput = Field(default_factory=GenerateOutput)
    usage: Usage = Field(default_factory=Usage)
    finish_reason: str | None = None


class ErrorObject(_Response):
    """The gateway's error object: ``{"code", "message", "type", "param", "request_id"}``."""

    code: str | None = None
    message: str = ""
    type: str | None = None
    param: str | None = None
    request_id: str | None = None
    retry_after: float | None = None


class TokenEvent(_Response):
    """A piece of generated text. ``id`` is the event's position in the generation's stream (from 1)."""

    type: Literal["token"] = "token"
    id: int | None = None
    text: str


class ProgressEvent(_Response):
    """Progress of a non-text generation (a denoising ``step`` out of ``total``)."""

    type: Literal["progress"] = "progress"
    id: int | None = None
    step: int | None = None
    total: int | None = None


class DoneEvent(_Response):
    """The last event of a successful stream; ``response`` is what ``generate()`` would have returned."""

    type: Literal["done"] = "done"
    id: int | None = None
    response: GenerateResponse


class ErrorEvent(_Response):
    """The last event of a failed stream; ``error`` says why."""

    type: Literal["error"] = "error"
    id: int | None = None
    error: ErrorObject


StreamEvent = TokenEvent | ProgressEvent | DoneEvent | ErrorEvent


class Generation(_Response):
    """A generation's status (``GET /v1/generations/{id}``): ``queued``, ``running``, ``completed``, ``failed``
    or ``cancelled``, plus whatever the gateway recorded about it."""

    id: str
    status: str


# -- sessions ----------------------------------------------------------------------------------------------------


class Session(_Response):
    """A chat session. ``model`` (if set) is used when a session request names none."""

    id: str
    title: str | None = None
    model: str | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    message_count: int | None = None


class SessionMessage(_Response):
    """One message of a session's conversation, with the generation that produced (or consumed) it."""

    role: str
    content: str
    generation_id: str | None = None
    created_at: dt.datetime | None = None


class SessionDetail(Session):
    """A session with its messages (as they were at ``as_of`` when asked for a past time)."""

    messages: list[SessionMessage] = Field(default_factory=list)
    as_of: dt.datetime | None = None


class HistoryEvent(_Response):
    """One stored event of the session or of one of its generations (the audit trail)."""

    type: str
    aggregate_id: str
    version: int
    timestamp: dt.datetime
    data: dict[str, Any] = Field(default_factory=dict)


class SessionHistory(_Response):
    """Every stored event of a session and of its generations, oldest first."""

    session_id: str
    events: list[HistoryEvent] = Field(default_factory=list)
    as_of: dt.datetime | None = None


# -- account -----------------------------------------------------------------------------------------------------


class Provider(_Response):
    """A provider and whether this user can use it (``source``: ``user``, ``server``, ``local`` or ``None``)."""

    name: str
    configured: bool
    source: str | None = None
    supported_modalities: list[str] = Field(default_factory=list)


class UsageRow(_Response):
    """Usage of one model on one day."""

    date: dt.date
    provider: str | None = None
    model: str | None = None
    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    images: int = 0
    meshes: int = 0
    cost_usd: float = 0.0


class UsageReport(_Response):
    """The caller's usage, per day and model, and its ``totals``."""

    usage: list[UsageRow] = Field(default_factory=list)
    totals: dict[str, Any] = Field(default_factory=dict)


class Credential(_Response):
    """A provider credential of the caller's own; the secret never comes back, only its ``last4``."""

    provider: str
    last4: str | None = None
    updated_at: dt.datetime | None = None


class ApiKey(_Response):
    """One of the caller's API keys (never the secret)."""

    key_id: str
    name: str | None = None
    revoked: bool = False
    created_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None


class NewApiKey(_Response):
    """A freshly issued API key: ``api_key`` is shown once, now."""

    key_id: str
    name: str | None = None
    api_key: str


class SessionUser(_Response):
    """The user a sign-in is for."""

    id: str
    username: str
    is_admin: bool = False


class SignedIn(_Response):
    """A password sign-in: a new API key named ``web session`` (shown this once) that expires at ``expires_at``."""

    api_key: str
    key_id: str
    expires_at: dt.datetime
    user: SessionUser


class Me(_Response):
    """Who the API key belongs to."""

    user_id: str
    username: str
    is_admin: bool = False
    key_id: str | None = None


class User(_Response):
    """A user of the gateway, as an admin sees them."""

    user_id: str
    username: str
    is_admin: bool = False
    disabled: bool = False
    created_at: dt.datetime | None = None


class NewUser(_Response):
    """A user an admin just created, with their first API key (``api_key``, shown once, now)."""

    user_id: str
    username: str
    is_admin: bool = False
    api_key: str
    key_id: str


# -- models and jobs ---------------------------------------------------------------------------------------------


class Model(_Response):
    """A model the gateway can serve (``GET /v1/models``)."""

    id: str
    name: str | None = None
    version: str | None = None
    modality: str | None = None
    runtime: str | None = None
    local: bool = True
    size_bytes: int | None = None
    status: str | None = None


class SearchResult(_Response):
    """A model found on Hugging Face."""

    id: str
    name: str | None = None
    tags: list[str] = Field(default_factory=list)
    modality_hints: list[str] = Field(default_factory=list)
    downloads: int | None = None
    last_modified: dt.datetime | None = None


class SearchPage(_Response):
    """One page of search results; ``next_cursor`` is ``None`` on the last page."""

    results: list[SearchResult] = Field(default_factory=list)
    next_cursor: str | None = None


class Job(_Response):
    """A model download job. ``status`` is ``queued``, ``running``, ``completed``, ``failed`` or ``cancelled``."""

    job_id: str
    status: str
    model_id: str | None = None
    progress_pct: float | None = None
    bytes_done: int | None = None
    bytes_total: int | None = None
    current_file: str | None = None
    error: Any = None
    created_at: dt.datetime | None = None

    @property
    def done(self) -> bool:
        """Whether the job reached a final status."""
        return self.status in ("completed", "failed", "cancelled")
