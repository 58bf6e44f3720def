"""OpenAI: chat completions (streamed with a final usage chunk) and image generations.

:class:`OpenAIRuntime` holds the OpenAI wire format; Azure OpenAI and xAI subclass it and change only where the
request goes, how it authenticates and which parameters they accept.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any, ClassVar

from pydantic_settings import SettingsConfigDict

from domain.errors import ProviderUnavailable
from runtimes.base import Blob, Chunk, Credential, GenerationRequest, ProviderSettings, Result, TextDelta, Usage
from runtimes.options import Count, Height, Options, TextOptions, Width
from runtimes.providers.http import ProviderRuntime, estimate_tokens, wants_stream

FINISH_REASONS = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
}


class OpenAISettings(ProviderSettings):
    model_config = SettingsConfigDict(env_prefix="LLM_API_OPENAI_", **ProviderSettings.CONFIG)

    base_url: str = "https://api.openai.com/v1"


class OpenAIImageOptions(Options):
    n: Count = None
    width: Width = None
    height: Height = None


class OpenAIRuntime(ProviderRuntime):
    """The OpenAI REST API: ``{base_url}/chat/completions`` and ``{base_url}/images/generations``."""

    name = "openai"
    label = "OpenAI"
    settings_class: ClassVar[type[ProviderSettings]] = OpenAISettings
    options = {"text": TextOptions, "image": OpenAIImageOptions}
    models: ClassVar[tuple[tuple[str, str], ...]] = (
        ("gpt-4o", "text"),
        ("gpt-4o-mini", "text"),
        ("gpt-4.1", "text"),
        ("gpt-4.1-mini", "text"),
        ("gpt-image-1", "image"),
        ("dall-e-3", "image"),
    )
    prices = {"gpt-4o": (2.5, 10.0), "gpt-4o-mini": (0.15, 0.6), "gpt-4.1": (2.0, 8.0), "gpt-4.1-mini": (0.4, 1.6)}
    #: OpenAI's current name; ``max_tokens`` is refused by its reasoning models.
    max_tokens_field: ClassVar[str] = "max_completion_tokens"

    @property
    def base_url(self) -> str:
        return str(getattr(self.settings, "base_url", "") or "").rstrip("/")

    # -- what subclasses change --------------------------------------------------------------------------------

    def url(self, request: GenerationRequest, credential: Credential, operation: str) -> tuple[str, dict[str, str]]:
        """The URL and query parameters of ``operation`` (``chat/completions`` or ``images/generations``)."""
        return f"{self.base_url}/{operation}", {}

    def headers(self, credential: Credential) -> dict[str, str]:
        return {"Authorization": f"Bearer {credential.api_key}"}

    def base_body(self, request: GenerationRequest) -> dict[str, Any]:
        return {"model": request.model}

    def image_options(self, request: GenerationRequest) -> dict[str, Any]:
        params = request.parameters
        options: dict[str, Any] = {}
        width, height = params.get("width"), params.get("height")
        if width or height:
            options["size"] = f"{int(width or height or 0)}x{int(height or width or 0)}"
        # gpt-image models always answer base64 and refuse the parameter; the DALL·E ones need it.
        if not request.model.startswith("gpt-image"):
            options["response_format"] = "b64_json"
        return options

    # -- execution ---------------------------------------------------------------------------------------------

    async def execute(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        credential = self.http.credential(request)
        if request.modality == "image":
            yield await self._images(request, credential)
        elif wants_stream(request):
            async with aclosing(self._stream(request, credential)) as chunks:
                async for chunk in chunks:
                    yield chunk
        else:
            result = await self._complete(request, credential)
            if result.text:
                yield TextDelta(result.text)
            yield result

    def chat_body(self, request: GenerationRequest) -> dict[str, Any]:
        body = self.base_body(request)
        body["messages"] = [{"role": m.role, "content": m.content} for m in request.messages]
        params = request.parameters
        for ours, theirs in (
            ("temperature", "temperature"),
            ("top_p", "top_p"),
            ("seed", "seed"),
            ("stop", "stop"),
            ("max_tokens", self.max_tokens_field),
        ):
            if params.get(ours) is not None:
                body[theirs] = params[ours]
        return body

    async def _complete(self, request: GenerationRequest, credential: Credential) -> Result:
        url, query = self.url(request, credential, "chat/completions")
        data = await self.http.post_json(
            url, headers=self.headers(credential), body=self.chat_body(request), credential=credential, params=query
        )
        choices = data.get("choices") or [{}]
        text = (choices[0].get("message") or {}).get("content") or ""
        return Result(
            text=text,
            usage=self._usage(data.get("usage"), request, text),
            finish_reason=FINISH_REASONS.get(choices[0].get("finish_reason") or "stop", "stop"),
        )

    async def _stream(self, request: GenerationRequest, credential: Credential) -> AsyncGenerator[Chunk, None]:
        url, query = self.url(request, credential, "chat/completions")
        body = self.chat_body(request) | {"stream": True, "stream_options": {"include_usage": True}}
        parts: list[str] = []
        finish_reason, usage, done = None, None, False
        async with aclosing(
            self.http.stream_sse(url, headers=self.headers(credential), body=body, credential=credential, params=query)
        ) as events:
            async for event in events:
                if event.data.strip() == "[DONE]":
                    done = True
                    break
                data = event.json()
                if isinstance(data.get("error"), dict):
                    error = data["error"]
                    kind = "rate_limited" if error.get("type") == "rate_limit_error" else "unavailable"
                    raise self.http.error(kind, str(error.get("message") or error), credential)
                for choice in data.get("choices") or ():
                    if choice.get("index", 0) != 0:
                        continue
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        parts.append(text)
                        yield TextDelta(text)
                    finish_reason = choice.get("finish_reason") or finish_reason
                usage = data.get("usage") or usage
        if not done and finish_reason is None:
            raise ProviderUnavailable(f"{self.label} ended the stream before it finished.", provider=self.name)
        text = "".join(parts)
        yield Result(
            text=text,
            usage=self._usage(usage, request, text),
            finish_reason=FINISH_REASONS.get(finish_reason or "stop", "stop"),
        )

    @staticmethod
    def _usage(usage: dict[str, Any] | None, request: GenerationRequest, text: str) -> Usage:
        if usage and (usage.get("prompt_tokens") or usage.get("completion_tokens")):
            return Usage(
                input_tokens=int(usage.get("prompt_tokens") or 0),
                output_tokens=int(usage.get("completion_tokens") or 0),
            )
        # Never meter a call as free: estimate when the upstream reported nothing.
        return Usage(
            input_tokens=estimate_tokens(" ".join(m.content for m in request.messages)),
            output_tokens=estimate_tokens(text),
        )

    async def _images(self, request: GenerationRequest, credential: Credential) -> Result:
        url, query = self.url(request, credential, "images/generations")
        body = self.base_body(request) | {"prompt": request.prompt, "n": int(request.parameters.get("n") or 1)}
        body |= self.image_options(request)
        data = await self.http.post_json(
            url, headers=self.headers(credential), body=body, credential=credential, params=query
        )
        images = []
        for item in data.get("data") or ():
            try:
                images.append(Blob(base64.b64decode(item["b64_json"], validate=True), "image/png", "png"))
            except (KeyError, TypeError, binascii.Error):
                raise ProviderUnavailable(
                    f"{self.label} answered an image without base64 data.", provider=self.name
                ) from None
        if not images:
            raise ProviderUnavailable(f"{self.label} answered no image.", provider=self.name)
        return Result(images=tuple(images), usage=Usage(images=len(images)))


create = OpenAIRuntime.create  # the ``pluggably.runtimes`` entry point
