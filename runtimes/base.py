"""The ``Runtime`` interface every provider adapter and local runtime implements, and all it declares.

A runtime turns one normalised :class:`GenerationRequest` into an async stream of chunks: zero or more
:class:`TextDelta` (or :class:`Progress`) followed by exactly one :class:`Result`. Failures are raised as
``domain.errors.ProviderError`` subclasses. Heavy libraries are imported lazily inside the runtime.

Everything the gateway knows of a provider is declared on its runtime class, in its one module: its settings
(:class:`RuntimeSettings`, ``LLM_API_<PROVIDER>_*``), whether it needs a credential and which fields one carries,
its model menu, its prices and its options per modality. Credentials, the catalogue, the settings and the usage
meter read them from there, for our runtimes and for a plugin's alike.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.errors import InvalidRequest
from runtimes import options as opts

Modality = Literal["text", "image", "3d"]
Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    role: Role
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
        data = {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
        }
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


class RuntimeSettings(BaseSettings):
    """A runtime's own settings, read once from the environment (and ``.env``) when the runtime is made. A subclass
    sets its prefix: ``model_config = SettingsConfigDict(env_prefix="LLM_API_OPENAI_", **RuntimeSettings.CONFIG)``."""

    CONFIG: ClassVar[SettingsConfigDict] = SettingsConfigDict(env_file=".env", extra="ignore")
    model_config = SettingsConfigDict(**CONFIG)

    @classmethod
    def env_var(cls, field_name: str) -> str:
        return f"{cls.model_config.get('env_prefix', '')}{field_name}".upper()

    def secret(self, field_name: str) -> str | None:
        value = getattr(self, field_name, None)
        if isinstance(value, SecretStr):
            return value.get_secret_value() or None
        return value or None


class ProviderSettings(RuntimeSettings):
    """The settings of a provider that needs a credential: the server-wide key serves every user without one."""

    api_key: SecretStr | None = None


class Runtime(ABC):
    """One inference back end. Subclasses set ``name`` and ``options`` (or ``modalities``), and implement
    ``execute``; a provider also sets ``needs_credential`` and ``settings_class`` and keeps its settings in
    ``self.settings``."""

    name: ClassVar[str]
    #: How users know it ("OpenAI"); the name when unset.
    label: ClassVar[str] = ""
    #: The options model per modality it serves (see ``runtimes.options``); ``modalities`` and ``parameters`` are
    #: derived from it. A runtime that sets only ``modalities`` gets the default options of each.
    options: ClassVar[dict[str, type[opts.Options]]] = {"text": opts.TextOptions}
    modalities: ClassVar[frozenset[str]] = frozenset({"text"})
    parameters: ClassVar[dict[str, frozenset[str]]] = {"text": frozenset(opts.TextOptions.model_fields)}
    can_stream: ClassVar[bool] = True
    #: Commercial providers need a credential (a user's own, or the server's key); local runtimes do not.
    needs_credential: ClassVar[bool] = False
    #: Fields a saved credential may carry beside ``api_key`` (``endpoint``, ``api_version``).
    credential_fields: ClassVar[frozenset[str]] = frozenset()
    #: Its settings (``LLM_API_<PROVIDER>_*``): read by its factory into ``self.settings``.
    settings_class: ClassVar[type[RuntimeSettings] | None] = None
    #: Well-known models, ``(name, modality)``, listed by ``GET /v1/models`` for callers who can use the runtime:
    #: a menu, not a limit (any name the provider accepts works as ``provider:name``).
    models: ClassVar[tuple[tuple[str, str], ...]] = ()
    #: USD per million input and output tokens, by model name (see ``cost``).
    prices: ClassVar[dict[str, tuple[float, float]]] = {}

    settings: RuntimeSettings | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "options" not in cls.__dict__ and "modalities" in cls.__dict__:
            cls.options = {m: opts.DEFAULT_OPTIONS[m] for m in cls.modalities if m in opts.DEFAULT_OPTIONS}
        cls.modalities = frozenset(cls.options) or cls.modalities
        cls.parameters = {m: frozenset(o.model_fields) for m, o in cls.options.items()}

    @abstractmethod
    def execute(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        """Yield ``TextDelta``/``Progress`` chunks, then exactly one ``Result``. Raise ``ProviderError`` on failure.

        ``request.parameters`` were checked by ``validate`` when the generation was requested. Cancellation
        arrives as ``asyncio.CancelledError`` at an ``await``: a runtime must stop promptly.
        """

    def validate(self, modality: str, parameters: dict[str, Any], model: str = "") -> dict[str, Any]:
        """The one check of a request's parameters, before anything is recorded: against the options of
        ``modality``, for ``model`` (the ``GenerationRequest.model`` it will be given). Raises ``InvalidRequest``
        (422) naming what to fix; answers the checked parameters."""
        options = self.options.get(modality)
        if options is None:
            raise InvalidRequest(
                f"{self.name} does not do {modality}; it does {', '.join(sorted(self.modalities))}.", param="modality"
            )
        return opts.check(self.name, modality, options, parameters, model)

    # -- credentials -------------------------------------------------------------------------------------------

    def server_credential(self) -> Credential | None:
        """The server-wide credential (``LLM_API_<PROVIDER>_API_KEY``), serving users without one of their own."""
        key = self.settings.secret("api_key") if self.settings is not None else None
        return Credential(api_key=key, source="server") if key else None

    def key_setting(self) -> str:
        """The environment variable of the server-wide key, for messages that say what to set."""
        settings_class = self.settings_class or ProviderSettings
        if settings_class.model_config.get("env_prefix"):
            return settings_class.env_var("api_key")
        return f"LLM_API_{self.name.upper()}_API_KEY"

    def check_credential(self, endpoint: str | None, api_version: str | None) -> None:
        """Refuse a credential a user wants to save that this runtime cannot use (``InvalidRequest``)."""
        given = {name for name, value in (("endpoint", endpoint), ("api_version", api_version)) if value}
        extra = sorted(given - self.credential_fields)
        if extra:
            raise InvalidRequest(
                f"{' and '.join(extra)} {'is' if len(extra) == 1 else 'are'} not for {self.name}: "
                f"its credential is an api_key"
                f"{''.join(f', {f}' for f in sorted(self.credential_fields))}.",
                param=extra[0],
            )

    # -- usage -------------------------------------------------------------------------------------------------

    def cost(self, model: str, usage: dict[str, Any]) -> float:
        """The USD cost of ``usage`` on ``model`` (the name after ``provider:``): from ``prices``, 0 when unknown."""
        price_in, price_out = self.prices.get(model, (0.0, 0.0))
        return (int(usage.get("input_tokens", 0)) * price_in + int(usage.get("output_tokens", 0)) * price_out) / 1e6

    async def prepare(self) -> None:
        """Make ready what the first generation would otherwise wait for (a pooled client): called when a worker
        starts to serve this runtime."""

    async def aclose(self) -> None:
        """Release clients, models and child processes."""


#: What an entry point in the ``pluggably.runtimes`` group points at: called once with the gateway's settings.
RuntimeFactory = Callable[[Any], Runtime]
