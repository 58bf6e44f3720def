"""Azure OpenAI: the OpenAI wire format at ``{endpoint}/openai/deployments/{deployment}/...?api-version=``.

The model name is the deployment name. The endpoint and API version come from the user's saved credential when it
carries them, else from ``LLM_API_AZURE_OPENAI_ENDPOINT`` / ``LLM_API_AZURE_OPENAI_API_VERSION``. Everything Azure
does differently is here: its settings, the credential fields it takes, and where requests go.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from pydantic_settings import SettingsConfigDict

from domain.errors import InvalidRequest, ProviderNotConfigured
from runtimes.base import Credential, GenerationRequest, ProviderSettings
from runtimes.providers.openai import OpenAIRuntime


class AzureSettings(ProviderSettings):
    model_config = SettingsConfigDict(env_prefix="LLM_API_AZURE_OPENAI_", **ProviderSettings.CONFIG)

    endpoint: str | None = None
    api_version: str = "2024-10-21"


class AzureOpenAIRuntime(OpenAIRuntime):
    name = "azure"
    label = "Azure OpenAI"
    settings_class = AzureSettings
    credential_fields = frozenset({"endpoint", "api_version"})
    models = (("gpt-4o", "text"), ("gpt-4o-mini", "text"))
    prices = {}
    max_tokens_field = "max_tokens"
    settings: AzureSettings

    def server_credential(self) -> Credential | None:
        key = self.settings.secret("api_key")
        if not key:
            return None
        return Credential(
            api_key=key, source="server", endpoint=self.settings.endpoint, api_version=self.settings.api_version
        )

    def check_credential(self, endpoint: str | None, api_version: str | None) -> None:
        super().check_credential(endpoint, api_version)
        if not (endpoint or self.settings.endpoint):
            raise InvalidRequest(
                'Azure needs an endpoint: give "endpoint" (https://<resource>.openai.azure.com).', param="endpoint"
            )

    def url(self, request: GenerationRequest, credential: Credential, operation: str) -> tuple[str, dict[str, str]]:
        endpoint = (credential.endpoint or self.settings.endpoint or "").rstrip("/")
        if not endpoint:
            raise ProviderNotConfigured(
                "Azure OpenAI needs your resource's endpoint (https://<resource>.openai.azure.com): the "
                f"administrator can set {AzureSettings.env_var('endpoint')}, or save it with your key under Profile "
                "(PUT /v1/me/credentials/azure).",
                param="model",
            )
        deployment = quote(request.model, safe="")
        return (
            f"{endpoint}/openai/deployments/{deployment}/{operation}",
            {"api-version": credential.api_version or self.settings.api_version},
        )

    def headers(self, credential: Credential) -> dict[str, str]:
        return {"api-key": credential.api_key}

    def base_body(self, request: GenerationRequest) -> dict[str, Any]:
        return {}  # the deployment in the path names the model


create = AzureOpenAIRuntime.create  # the ``pluggably.runtimes`` entry point
