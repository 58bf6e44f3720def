"""Google Gemini: ``POST {base}/v1beta/models/{model}:generateContent`` and ``:streamGenerateContent?alt=sse``.

Roles are ``user`` and ``model``; system messages go to ``systemInstruction``; parameters to
``generationConfig``. Images come from an image model (``gemini-2.5-flash-image``...) asked for
``responseModalities: ["IMAGE"]``, as ``inlineData`` parts, or from an Imagen model (``imagen-4.0-generate-001``...)
through ``:predict`` (``instances: [{prompt}]``, ``parameters``), as ``predictions[].bytesBase64Encoded``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any
from urllib.parse import quote

from pydantic import ValidationInfo, field_validator
from pydantic_settings import SettingsConfigDict

from domain.errors import ProviderError, ProviderUnavailable
from runtimes.base import Blob, Chunk, Credential, GenerationRequest, ProviderSettings, Result, TextDelta, Usage
from runtimes.options import Height, Options, Seed, TextOptions, Width
from runtimes.providers.http import ProviderHTTP, ProviderRuntime, estimate_tokens, wants_stream

FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}
ERROR_KINDS = {
    "INVALID_ARGUMENT": "rejected",
    "FAILED_PRECONDITION": "rejected",
    "NOT_FOUND": "rejected",
    "OUT_OF_RANGE": "rejected",
    "UNAUTHENTICATED": "auth",
    "PERMISSION_DENIED": "auth",
    "RESOURCE_EXHAUSTED": "rate_limited",
    "DEADLINE_EXCEEDED": "timeout",
}
ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
IMAGEN_ASPECT_RATIOS = ("1:1", "3:4", "4:3", "9:16", "16:9")
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


class GoogleHTTP(ProviderHTTP):
    def error_for_status(
        self, status: int, body: str, headers: Mapping[str, str], credential: Credential | None
    ) -> ProviderError:
        # Gemini answers a wrong key with 400 INVALID_ARGUMENT, reason API_KEY_INVALID.
        if status == 400 and "API_KEY_INVALID" in body:
            return self.auth_failed(credential, "HTTP 400 API_KEY_INVALID")
        return super().error_for_status(status, body, headers, credential)


def aspect_ratio(width: int, height: int, supported: tuple[str, ...] = ASPECT_RATIOS) -> str:
    """The supported aspect ratio closest to ``width``:``height``."""
    target = width / height

    def distance(ratio: str) -> float:
        w, h = ratio.split(":")
        return abs(int(w) / int(h) - target)

    return min(supported, key=distance)


def is_imagen(model: str) -> bool:
    return model.removeprefix("models/").startswith("imagen-")


class GoogleSettings(ProviderSettings):
    model_config = SettingsConfigDict(env_prefix="LLM_API_GOOGLE_", **ProviderSettings.CONFIG)

    base_url: str = "https://generativelanguage.googleapis.com"


class GoogleImageOptions(Options):
    width: Width = None
    height: Height = None
    seed: Seed = None

    @field_validator("seed")
    @classmethod
    def imagen_takes_no_seed(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and is_imagen(cls.requested_model(info)):
            raise ValueError(
                "Imagen on the Gemini API takes no seed: leave it out, or use a Gemini image model "
                "such as gemini-2.5-flash-image"
            )
        return value


class GoogleRuntime(ProviderRuntime):
    name = "google"
    label = "Google Gemini"
    settings_class = GoogleSettings
    http_class = GoogleHTTP
    options = {"text": TextOptions, "image": GoogleImageOptions}
    models = (
        ("gemini-2.5-pro", "text"),
        ("gemini-2.5-flash", "text"),
        ("gemini-2.5-flash-image", "image"),
        ("imagen-4.0-generate-001", "image"),
    )
    prices = {"gemini-2.5-flash": (0.3, 2.5), "gemini-2.5-pro": (1.25, 10.0)}

    @property
    def base_url(self) -> str:
        return str(getattr(self.settings, "base_url", "")).rstrip("/")

    def url(self, request: GenerationRequest, method: str) -> str:
        model = request.model.removeprefix("models/")
        return f"{self.base_url}/v1beta/models/{quote(model, safe='-._')}:{method}"

    @staticmethod
    def headers(credential: Credential) -> dict[str, str]:
        return {"x-goog-api-key": credential.api_key}

    def body(self, request: GenerationRequest) -> dict[str, Any]:
        params = request.parameters
        config: dict[str, Any] = {}
        if request.modality == "image":
            contents = [{"role": "user", "parts": [{"text": request.prompt}]}]
            config["responseModalities"] = ["IMAGE"]
            if params.get("width") or params.get("height"):
                width = int(params.get("width") or params["height"])
                height = int(params.get("height") or width)
                config["imageConfig"] = {"aspectRatio": aspect_ratio(width, height)}
        else:
            contents = [
                {"role": "model" if m.role == "assistant" else "user", "parts": [{"text": m.content}]}
                for m in request.messages
                if m.role != "system"
            ]
            for ours, theirs in (("temperature", "temperature"), ("max_tokens", "maxOutputTokens"), ("top_p", "topP")):
                if params.get(ours) is not None:
                    config[theirs] = params[ours]
            stop = params.get("stop")
            if stop:
                config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
        if params.get("seed") is not None:
            config["seed"] = int(params["seed"])
        body: dict[str, Any] = {"contents": contents}
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        if system and request.modality != "image":
            body["systemInstruction"] = {"parts": [{"text": system}]}
        if config:
            body["generationConfig"] = config
        return body

    async def execute(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        credential = self.http.credential(request)
        if request.modality == "image":
            yield await self._images(request, credential)
            return
        if wants_stream(request):
            async with aclosing(self._stream(request, credential)) as chunks:
                async for chunk in chunks:
                    yield chunk
            return
        data = await self.http.post_json(
            self.url(request, "generateContent"),
            headers=self.headers(credential),
            body=self.body(request),
            credential=credential,
        )
        text, finish = self._read(data, credential)
        if text:
            yield TextDelta(text)
        yield Result(
            text=text,
            usage=self._usage(data.get("usageMetadata"), request, text),
            finish_reason=FINISH_REASONS.get(finish or "STOP", "stop"),
        )

    async def _stream(self, request: GenerationRequest, credential: Credential) -> AsyncGenerator[Chunk, None]:
        parts: list[str] = []
        usage, finish = None, None
        async with aclosing(
            self.http.stream_sse(
                self.url(request, "streamGenerateContent"),
                headers=self.headers(credential),
                body=self.body(request),
                credential=credential,
                params={"alt": "sse"},
            )
        ) as events:
            async for event in events:
                data = event.json()
                text, finish_now = self._read(data, credential)
                if text:
                    parts.append(text)
                    yield TextDelta(text)
                finish = finish_now or finish
                usage = data.get("usageMetadata") or usage
        if finish is None:
            raise ProviderUnavailable("Google Gemini ended the stream before it finished.", provider=self.name)
        text = "".join(parts)
        yield Result(
            text=text, usage=self._usage(usage, request, text), finish_reason=FINISH_REASONS.get(finish, "stop")
        )

    def _read(self, data: dict[str, Any], credential: Credential) -> tuple[str, str | None]:
        """The text and finish reason of one response (or stream chunk); raises on an error or a blocked prompt."""
        if isinstance(data.get("error"), dict):
            error = data["error"]
            raise self.http.error(
                ERROR_KINDS.get(error.get("status"), "unavailable"), str(error.get("message") or error), credential
            )
        candidates = data.get("candidates") or []
        block = (data.get("promptFeedback") or {}).get("blockReason")
        if block and not candidates:
            raise self.http.error("rejected", f"the prompt was blocked ({block}).", credential)
        if not candidates:
            return "", None
        candidate = candidates[0]
        parts = (candidate.get("content") or {}).get("parts") or ()
        text = "".join(p.get("text", "") for p in parts if not p.get("thought"))
        return text, candidate.get("finishReason")

    @staticmethod
    def _usage(meta: dict[str, Any] | None, request: GenerationRequest, text: str) -> Usage:
        meta = meta or {}
        input_tokens = int(meta.get("promptTokenCount") or 0)
        output_tokens = int(meta.get("candidatesTokenCount") or 0) + int(meta.get("thoughtsTokenCount") or 0)
        return Usage(
            input_tokens=input_tokens or estimate_tokens(" ".join(m.content for m in request.messages)),
            output_tokens=output_tokens or estimate_tokens(text),
        )

    async def _images(self, request: GenerationRequest, credential: Credential) -> Result:
        if is_imagen(request.model):
            return await self._predict(request, credential)
        data = await self.http.post_json(
            self.url(request, "generateContent"),
            headers=self.headers(credential),
            body=self.body(request),
            credential=credential,
        )
        self._read(data, credential)
        images = []
        for candidate in data.get("candidates") or ():
            for part in (candidate.get("content") or {}).get("parts") or ():
                inline = part.get("inlineData") or part.get("inline_data")
                if not inline:
                    continue
                images.append(
                    self._decode(
                        inline.get("data") or "", inline.get("mimeType") or inline.get("mime_type") or "image/png"
                    )
                )
        if not images:
            finish = ((data.get("candidates") or [{}])[0]).get("finishReason") or "no image part"
            raise self.http.error(
                "rejected",
                f"the model answered no image ({finish}); use an image model such as gemini-2.5-flash-image.",
                credential,
            )
        return Result(images=tuple(images), usage=Usage(images=len(images)))

    async def _predict(self, request: GenerationRequest, credential: Credential) -> Result:
        params = request.parameters
        parameters: dict[str, Any] = {"sampleCount": 1, "includeRaiReason": True}  # say why an image was filtered
        if params.get("width") or params.get("height"):
            width = int(params.get("width") or params["height"])
            parameters["aspectRatio"] = aspect_ratio(width, int(params.get("height") or width), IMAGEN_ASPECT_RATIOS)
        data = await self.http.post_json(
            self.url(request, "predict"),
            headers=self.headers(credential),
            body={"instances": [{"prompt": request.prompt}], "parameters": parameters},
            credential=credential,
        )
        images = []
        for prediction in data.get("predictions") or ():
            encoded = prediction.get("bytesBase64Encoded")
            if not encoded:  # filtered out: the prediction names the reason instead
                continue
            images.append(self._decode(encoded, prediction.get("mimeType") or "image/png"))
        if not images:
            reasons = [p.get("raiFilteredReason") for p in data.get("predictions") or () if p.get("raiFilteredReason")]
            raise self.http.error(
                "rejected", "Imagen answered no image" + (f" ({'; '.join(reasons)})." if reasons else "."), credential
            )
        return Result(images=tuple(images), usage=Usage(images=len(images)))

    def _decode(self, encoded: str, mime: str) -> Blob:
        try:
            data = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise ProviderUnavailable(
                "Google answered an image with invalid base64 data.", provider=self.name
            ) from None
        return Blob(data, mime, EXTENSIONS.get(mime, mime.rpartition("/")[2]))


create = GoogleRuntime.create  # the ``pluggably.runtimes`` entry point
