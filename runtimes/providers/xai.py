"""xAI (Grok): OpenAI-compatible chat completions and image generations at ``https://api.x.ai/v1``."""

from __future__ import annotations

from typing import Any

from runtimes.base import TEXT_PARAMETERS, GenerationRequest
from runtimes.providers.http import RetryPolicy
from runtimes.providers.openai import OpenAIRuntime


class XAIRuntime(OpenAIRuntime):
    name = "xai"
    label = "xAI"
    env_var = "LLM_API_XAI_API_KEY"
    # xAI's image endpoint takes no size.
    parameters = {"text": TEXT_PARAMETERS, "image": frozenset({"n"})}
    max_tokens_field = "max_tokens"

    def image_options(self, request: GenerationRequest) -> dict[str, Any]:
        return {"response_format": "b64_json"}


def create(settings: Any, **options: Any) -> XAIRuntime:
    """The ``pluggably.runtimes`` entry point. ``options`` reach the constructor (tests pass a fast ``retry``)."""
    options.setdefault("timeout_s", settings.provider_timeout_s)
    options.setdefault("retry", RetryPolicy(max_retries=settings.provider_max_retries))
    return XAIRuntime(settings.xai_base_url, **options)
