"""The ``Runtime`` interface every provider adapter and local runtime implements.

A runtime turns one normalised :class:`GenerationRequest` into an async stream of chunks: zero or more
:class:`TextDelta` (or :class:`Progress`) followed by exactly one :class:`Result`. Failures are raised as
``domain.errors.ProviderError`` subclasses. Heavy libraries are imported lazily inside the runtime.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

Modality = Literal["text", "image", "3d"]


@dataclass(frozen=True)
class Message:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class Credential:
    """What a runtime needs to call its upstream; ``source`` is ``user`` or ``server``."""

    api_key: str
    source: Literal["user", "server"] = "server"
    endpoint: str | None = None
    api_version: str | None = None

    def __repr__(self) -> str:  # never print the secret
        return f"Credential(source={self.source!r}, endpoint={self.endpoint!r}, last4={self.api_key[-4:]!r})"


@dataclass(frozen=True)
class GenerationRequest:
    """A normalised request. ``model`` is the name after the ``provider:`` prefix (or the local location)."""

    generation_id: str
    model: str
    modality: Modality
    messages: tuple[Message, ...]
    parameters: dict[str, Any] = field(default_factory=dict)
    credential: Credential | None = None
    owner_id: str = ""
    #: Whether the caller streams; a runtime may call its upstream without streaming when False.
    stream: bool = True

    @property
    def prompt(self) -> str:
        """The last user message: what single-prompt runtimes (images, 3D) use."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message.content
        return ""


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    images: int = 0
    meshes: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def as_dict(self) -> dict[str, int]:
        data = {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "total_tokens": self.total_tokens}
        if self.images:
            data["images"] = self.images
        if self.meshes:
            data["meshes"] = self.meshes
        return data


@dataclass(frozen=True)
class Blob:
    """A binary output (an image or a mesh). The worker stores it inline or as an artifact."""

    data: bytes
    mime_type: str
    extension: str


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class Progress:
    """Progress of a non-text generation (a denoising step...)."""

    step: int
    total: int


@dataclass(frozen=True)
class Result:
    """The final chunk. ``text`` for text; ``images`` (PNG blobs) and ``files`` (meshes...) otherwise."""

    text: str | None = None
    images: tuple[Blob, ...] = ()
    files: tuple[Blob, ...] = ()
    usage: Usage = Usage()
    finish_reason: str = "stop"


Chunk = TextDelta | Progress | Result


class Runtime(ABC):
    """One inference back end. Subclasses set ``name`` and ``modalities`` and implement ``execute``."""

    name: ClassVar[str]
    modalities: ClassVar[frozenset[str]] = frozenset({"text"})
    can_stream: ClassVar[bool] = True
    #: Commercial providers need a credential; local runtimes do not.
    needs_credential: ClassVar[bool] = False
    #: Parameters the runtime accepts, per modality (the API rejects others with a 422 that lists these).
    parameters: ClassVar[dict[str, frozenset[str]]] = {}

    @abstractmethod
    def execute(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        """Yield ``TextDelta``/``Progress`` chunks, then exactly one ``Result``. Raise ``ProviderError`` on failure.

        Cancellation arrives as ``asyncio.CancelledError`` at an ``await``: a runtime must stop promptly.
        """

    def validate(self, modality: str, parameters: dict[str, Any], model: str = "") -> None:
        """Refuse parameters this runtime cannot honour for ``model`` (the ``GenerationRequest.model`` it will be
        given) by raising ``InvalidRequest``, before anything is recorded."""

    async def aclose(self) -> None:
        """Release clients, models and child processes."""


#: What an entry point in the ``pluggably.runtimes`` group points at: called once with the settings.
RuntimeFactory = Callable[[Any], Runtime]

TEXT_PARAMETERS = frozenset({"temperature", "max_tokens", "top_p", "stop", "seed"})
IMAGE_PARAMETERS = frozenset({"width", "height", "steps", "guidance", "negative_prompt", "seed", "n"})
MESH_PARAMETERS = frozenset({"steps", "guidance", "seed", "format"})
