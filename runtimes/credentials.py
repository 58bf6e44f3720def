"""Which credential a provider call uses: the user's own saved one first, then the server-wide key.

Both come from the runtime's own declarations: ``Runtime.server_credential`` reads its settings, and the user's
saved credential is looked up by ``user_lookup`` (decrypted, cached: ``services.credentials.UserCredentials``).
"""

from __future__ import annotations

from collections.abc import Callable

from runtimes.base import Credential
from runtimes.registry import RuntimeRegistry

UserLookup = Callable[[str, str], Credential | None]


class CredentialResolver:
    """``user_lookup(owner_id, provider)`` answers the user's decrypted credential or None."""

    def __init__(self, registry: RuntimeRegistry, user_lookup: UserLookup | None = None) -> None:
        self.registry = registry
        self.user_lookup = user_lookup

    def server(self, provider: str) -> Credential | None:
        return self.registry.get(provider).server_credential()

    def resolve(self, owner_id: str, provider: str) -> Credential | None:
        if self.user_lookup is not None:
            credential = self.user_lookup(owner_id, provider)
            if credential is not None:
                return credential
        return self.server(provider)

    def source(self, owner_id: str, provider: str) -> str | None:
        credential = self.resolve(owner_id, provider)
        return credential.source if credential else None
