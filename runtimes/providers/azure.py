"""Azure OpenAI: the OpenAI wire format at ``{endpoint}/openai/deployments/{deployment}/...?api-version=``.

The model name is the deployment name. The endpoint and API version come from the user's saved credential when it
carries them, else from ``LLM_API_AZURE_OPENAI_ENDPOINT`` / ``LLM_API_AZURE_OPENAI_API_VERSION``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from domain.errors import ProviderNotConfigured
from runtimes.base import Credential, GenerationRequest
from runtimes.providers.http import RetryPolicy
from runtimes.providers.openai import OpenAIRuntime


class AzureOpenAIRuntime(OpenAIRuntime):
    name = "azure"
    label = "Azure OpenAI"
    env_var = "LLM_API_AZURE_OPENAI_API_KEY"
    max_tokens_field = "max_tokens"

    def __init__(self, endpoint: str | None, api_version: str, *, timeout_s: float = 60.0,
                 retry: RetryPolicy | None = None) -> None:
        super().__init__(endpoint or "", timeout_s=timeout_s, retry=retry)
        self.api_version = api_version

    def url(self, request: GenerationRequest, credential: Credential, operation: str) -> tuple[str, dict[str, str]]:
        endpoint = (credential.endpoint or self.base_url).rstrip("/")
        if not endpoint:
            raise ProviderNotConfigured(
                "Azure OpenAI needs your resource's endpoint (https://<resource>.openai.azure.com): the "
                "administrator can set LLM_API_AZURE_OPENAI_ENDPOINT, or save it with your key under Profile "
                "(PUT /v1/me/credentials/azure).", param="model")
        deployment = quote(request.model, safe="")
        return (f"{endpoint}/openai/deployments/{deployment}/{operation}",
                {"api-version": credential.api_version or self.api_version})

    def headers(self, credential: Credential) -> dict[str, str]:
        return {"api-key": credential.api_key}

    def base_body(self, request: GenerationRequest) -> dict[str, Any]:
        return {}  # the deployment in the path names the model


def create(settings: Any, **options: Any) -> AzureOpenAIRuntime:
    """The ``pluggably.runtimes`` entry point. ``options`` reach the constructor (tests pass a fast ``retry``)."""
    options.setdefault("timeout_s", settings.provider_timeout_s)
    options.setdefault("retry", RetryPolicy(max_retries=settings.provider_max_retries))
    return AzureOpenAIRuntime(settings.azure_openai_endpoint, settings.azure_openai_api_version, **options)
