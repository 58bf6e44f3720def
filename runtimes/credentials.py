"""Which credential a provider call uses: the user's own saved one first, then the server-wide key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runtimes.base import Credential

#: provider → (settings attribute of the key, environment variable)
SERVER_KEYS = {
    "openai": "openai_api_key",
    "anthropic": "anthropic_api_key",
    "google": "google_api_key",
    "azure": "azure_openai_api_key",
    "xai": "xai_api_key",
}


def env_var(provider: str) -> str:
    return "LLM_API_" + SERVER_KEYS.get(provider, provider + "_api_key").upper()


class CredentialResolver:
    """``user_lookup(owner_id, provider)`` answers the user's decrypted credential or None."""

    def __init__(self, settings: Any, user_lookup: Callable[[str, str], Credential | None] | None = None) -> None:
        self.settings = settings
        self.user_lookup = user_lookup

    def server(self, provider: str) -> Credential | None:
        attr = SERVER_KEYS.get(provider)
        key = self.settings.secret(attr) if attr else None
        if not key:
            return None
        if provider == "azure":
            return Credential(api_key=key, source="server", endpoint=self.settings.azure_openai_endpoint,
                              api_version=self.settings.azure_openai_api_version)
        return Credential(api_key=key, source="server")

    def resolve(self, owner_id: str, provider: str) -> Credential | None:
        if self.user_lookup is not None:
            credential = self.user_lookup(owner_id, provider)
            if credential is not None:
                return credential
        return self.server(provider)

    def source(self, owner_id: str, provider: str) -> str | None:
        credential = self.resolve(owner_id, provider)
        return credential.source if credential else None
