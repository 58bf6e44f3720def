"""The request bodies of ``/v1``, and what each becomes for its use case. Every failure becomes an
``InvalidRequest`` that says what to fix (``domain.validation.parse``); a generation's ``parameters`` are checked
by the runtimes that will run it (``Runtime.validate``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from domain.validation import Strict, parse
from services.downloads import Download
from services.generation import Generate

__all__ = ["parse"]


#: Bounds of ``model``: names as long as any provider's (with the ``provider:`` prefix), a short fallback list.
MAX_MODEL_NAME, MAX_FALLBACKS = 256, 8


class MessageIn(Strict):
    role: Literal["system", "user", "assistant"]
    content: str


class InputIn(Strict):
    prompt: str | None = None
    messages: list[MessageIn] | None = None

    @model_validator(mode="after")
    def one_of(self) -> InputIn:
        if self.prompt is None and not self.messages:
            raise ValueError("give input.prompt (a string) or input.messages (a non-empty list)")
        if self.prompt is not None and not self.prompt.strip():
            raise ValueError("input.prompt is empty")
        return self

    def as_messages(self) -> list[dict[str, str]]:
        messages = [m.model_dump() for m in self.messages or []]
        if self.prompt is not None:
            messages.append({"role": "user", "content": self.prompt})
        return messages


class GenerateIn(Strict):
    modality: Literal["text", "image", "3d"] = "text"
    model: str | list[str] | None = None
    input: InputIn
    parameters: dict[str, Any] = Field(default_factory=dict)
    stream: bool = False

    @field_validator("model")
    @classmethod
    def models_not_empty(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and not value:
            raise ValueError("model list is empty")
        if isinstance(value, list) and len(value) > MAX_FALLBACKS:
            raise ValueError(f"model lists at most {MAX_FALLBACKS} models to fall back on")
        for name in [value] if isinstance(value, str) else value or ():
            if not name.strip():
                raise ValueError("model is empty")
            if len(name) > MAX_MODEL_NAME:
                raise ValueError(f"a model name has at most {MAX_MODEL_NAME} characters")
        return value

    @property
    def models(self) -> list[str | None]:
        if self.model is None:
            return [None]
        return [self.model] if isinstance(self.model, str) else list(self.model)

    def order(self) -> Generate:
        return Generate(
            modality=self.modality,
            models=self.models,
            messages=self.input.as_messages(),
            parameters=self.parameters,
            stream=self.stream,
        )


class SessionIn(Strict):
    title: str | None = Field(None, max_length=200)
    model: str | None = None


class SessionPatch(Strict):
    title: str = Field(min_length=1, max_length=200)


class KeyIn(Strict):
    name: str = Field("default", min_length=1, max_length=100)


class UserIn(Strict):
    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=8, max_length=1024)
    admin: bool = False


class LoginIn(Strict):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class CredentialIn(Strict):
    api_key: str = Field(min_length=1, max_length=4096)
    endpoint: str | None = Field(None, max_length=2048, pattern=r"^https?://")
    api_version: str | None = Field(None, max_length=64)

    @field_validator("api_key")
    @classmethod
    def no_blank_key(cls, value: str) -> str:
        if not value.strip() or value != value.strip():
            raise ValueError("api_key must not be blank or have surrounding spaces")
        return value


class DownloadModelIn(Strict):
    id: str = Field(min_length=1, max_length=100)
    name: str | None = Field(None, min_length=1, max_length=200)
    version: str | None = Field(None, min_length=1, max_length=100)
    modality: Literal["text", "image", "3d"] = "text"

    @field_validator("id")
    @classmethod
    def folder_name(cls, value: str) -> str:
        value = value.removeprefix("local:")
        if not value or not (value[0].isalnum() and all(ch.isalnum() or ch in "._-" for ch in value)):
            raise ValueError(
                "model.id must be letters, digits, '.', '_' or '-', starting with a letter or digit "
                "(it names the model, local:<id>, and its folder)"
            )
        return value


class DownloadSourceIn(Strict):
    type: Literal["huggingface"] = "huggingface"
    id: str = Field(min_length=1, max_length=200)


class DownloadOptionsIn(Strict):
    revision: str = Field("main", min_length=1, max_length=200)
    allow_patterns: list[str] | None = Field(None, min_length=1, max_length=50)

    @field_validator("allow_patterns")
    @classmethod
    def no_blank_pattern(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not all(p.strip() for p in value):
            raise ValueError('allow_patterns must be non-empty globs such as "*.gguf"')
        return value


class DownloadIn(Strict):
    model: DownloadModelIn
    source: DownloadSourceIn
    options: DownloadOptionsIn = Field(default_factory=DownloadOptionsIn)

    def order(self) -> Download:
        spec = {
            "id": self.model.id,
            "name": self.model.name or self.model.id,
            "version": self.model.version or self.options.revision,
            "modality": self.model.modality,
        }
        return Download(
            model=spec,
            source=self.source.model_dump(),
            revision=self.options.revision,
            allow_patterns=self.options.allow_patterns,
        )


class ModelSearchIn(Strict):
    model_config = ConfigDict(extra="forbid", strict=False)  # from the query string: every value is text

    source: Literal["huggingface"] = "huggingface"
    query: str = Field("", max_length=200)
    modality: Literal["text", "image", "3d"] | None = None
    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(20, ge=1, le=100)
