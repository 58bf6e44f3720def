"""Anthropic: the Messages API (``POST {base}/v1/messages``), text only, streamed or not.

System messages travel in the top-level ``system`` field; ``max_tokens`` is required by the API (1024 when the
caller gave none). A stream reports input tokens in ``message_start`` and output tokens in ``message_delta``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any

from pydantic_settings import SettingsConfigDict

from domain.errors import ProviderUnavailable
from runtimes.base import Chunk, Credential, GenerationRequest, ProviderSettings, Result, TextDelta, Usage
from runtimes.options import MaxTokens, Options, Stop, Temperature, TopP
from runtimes.providers.http import ProviderRuntime, RetryPolicy, estimate_tokens, wants_stream

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024
STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "pause_turn": "stop",
}
ERROR_KINDS = {
    "invalid_request_error": "rejected",
    "not_found_error": "rejected",
    "request_too_large": "rejected",
    "authentication_error": "auth",
    "permission_error": "auth",
    "rate_limit_error": "rate_limited",
}


class AnthropicSettings(ProviderSettings):
    model_config = SettingsConfigDict(env_prefix="LLM_API_ANTHROPIC_", **ProviderSettings.CONFIG)

    base_url: str = "https://api.anthropic.com"


class AnthropicTextOptions(Options):
    """The Messages API has no seed."""

    temperature: Temperature = None
    max_tokens: MaxTokens = None
    top_p: TopP = None
    stop: Stop = None


class AnthropicRuntime(ProviderRuntime):
    name = "anthropic"
    label = "Anthropic"
    settings_class = AnthropicSettings
    options = {"text": AnthropicTextOptions}
    models = (("claude-opus-4-1", "text"), ("claude-sonnet-4-5", "text"), ("claude-haiku-4-5", "text"))
    prices = {"claude-sonnet-4-5": (3.0, 15.0), "claude-haiku-4-5": (1.0, 5.0)}

    def __init__(
        self,
        settings: ProviderSettings,
        *,
        timeout_s: float = 60.0,
        retry: RetryPolicy | None = None,
        default_max_tokens: int = DEFAULT_MAX_TOKENS,
    ) -> None:
        super().__init__(settings, timeout_s=timeout_s, retry=retry)
        self.url = str(getattr(settings, "base_url", "")).rstrip("/") + "/v1/messages"
        self.default_max_tokens = default_max_tokens

    def body(self, request: GenerationRequest) -> dict[str, Any]:
        params = request.parameters
        body: dict[str, Any] = {
            "model": request.model,
            "max_tokens": int(params.get("max_tokens") or self.default_max_tokens),
            "messages": [{"role": m.role, "content": m.content} for m in request.messages if m.role != "system"],
        }
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        if system:
            body["system"] = system
        for key in ("temperature", "top_p"):
            if params.get(key) is not None:
                body[key] = params[key]
        stop = params.get("stop")
        if stop:
            body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
        return body

    @staticmethod
    def headers(credential: Credential) -> dict[str, str]:
        return {"x-api-key": credential.api_key, "anthropic-version": API_VERSION}

    async def execute(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        credential = self.http.credential(request)
        if wants_stream(request):
            async with aclosing(self._stream(request, credential)) as chunks:
                async for chunk in chunks:
                    yield chunk
            return
        data = await self.http.post_json(
            self.url, headers=self.headers(credential), body=self.body(request), credential=credential
        )
        text = "".join(block.get("text", "") for block in data.get("content") or () if block.get("type") == "text")
        if text:
            yield TextDelta(text)
        yield Result(
            text=text,
            usage=self._usage(data.get("usage") or {}, {}, request, text),
            finish_reason=STOP_REASONS.get(data.get("stop_reason") or "end_turn", "stop"),
        )

    async def _stream(self, request: GenerationRequest, credential: Credential) -> AsyncGenerator[Chunk, None]:
        parts: list[str] = []
        start_usage: dict[str, Any] = {}
        final_usage: dict[str, Any] = {}
        stop_reason, finished = None, False
        events = self.http.stream_sse(
            self.url,
            headers=self.headers(credential),
            body=self.body(request) | {"stream": True},
            credential=credential,
        )
        async with aclosing(events):
            async for event in events:
                kind = event.event
                if kind == "ping":
                    continue
                data = event.json()
                kind = data.get("type", kind)
                if kind == "message_start":
                    start_usage = (data.get("message") or {}).get("usage") or {}
                elif kind == "content_block_delta":
                    delta = data.get("delta") or {}
                    if delta.get("type") == "text_delta" and delta.get("text"):
                        parts.append(delta["text"])
                        yield TextDelta(delta["text"])
                elif kind == "message_delta":
                    stop_reason = (data.get("delta") or {}).get("stop_reason") or stop_reason
                    final_usage |= data.get("usage") or {}
                elif kind == "message_stop":
                    finished = True
                    break
                elif kind == "error":
                    error = data.get("error") or {}
                    message = str(error.get("message") or error.get("type") or "stream error")
                    raise self.http.error(ERROR_KINDS.get(str(error.get("type")), "unavailable"), message, credential)
        if not finished:
            raise ProviderUnavailable("Anthropic ended the stream before message_stop.", provider=self.name)
        text = "".join(parts)
        yield Result(
            text=text,
            usage=self._usage(start_usage, final_usage, request, text),
            finish_reason=STOP_REASONS.get(stop_reason or "end_turn", "stop"),
        )

    @staticmethod
    def _usage(start: dict[str, Any], final: dict[str, Any], request: GenerationRequest, text: str) -> Usage:
        merged = start | {k: v for k, v in final.items() if v}
        input_tokens = sum(
            int(merged.get(k) or 0) for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        )
        output_tokens = int(merged.get("output_tokens") or 0)
        if not input_tokens:
            input_tokens = estimate_tokens(" ".join(m.content for m in request.messages))
        if not output_tokens:
            output_tokens = estimate_tokens(text)
        return Usage(input_tokens=input_tokens, output_tokens=output_tokens)


create = AnthropicRuntime.create  # the ``pluggably.runtimes`` entry point
