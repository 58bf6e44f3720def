"""xAI (Grok): OpenAI-compatible chat completions and image generations at ``https://api.x.ai/v1``."""

from __future__ import annotations

from typing import Any

from pydantic_settings import SettingsConfigDict

from runtimes.base import GenerationRequest, ProviderSettings
from runtimes.options import Count, Options, TextOptions
from runtimes.providers.openai import OpenAIRuntime


class XAISettings(ProviderSettings):
    model_config = SettingsConfigDict(env_prefix="LLM_API_XAI_", **ProviderSettings.CONFIG)

    base_url: str = "https://api.x.ai/v1"


class XAIImageOptions(Options):
    """xAI's image endpoint takes no size."""

    n: Count = None


class XAIRuntime(OpenAIRuntime):
    name = "xai"
    label = "xAI"
    settings_class = XAISettings
    options = {"text": TextOptions, "image": XAIImageOptions}
    models = (("grok-4", "text"), ("grok-3-mini", "text"), ("grok-2-image", "image"))
    prices = {"grok-4": (3.0, 15.0)}
    max_tokens_field = "max_tokens"

    def image_options(self, request: GenerationRequest) -> dict[str, Any]:
        return {"response_format": "b64_json"}


create = XAIRuntime.create  # the ``pluggably.runtimes`` entry point
